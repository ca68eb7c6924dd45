// kube-proxy's effective configuration for the fields the checks need. Unlike the kubelet,
// kube-proxy given --config takes every setting from the file and ignores the other flags
// (except logging: cmd/kube-proxy/app Options.Complete), so flags count only without --config.

import type { HostView } from './host-view.js';
import type { KubeProxyDiscovery } from './types.js';
import { parseArgs, lastFlag } from './flags.js';
import { loadYamlMapping, getPath, describeValue } from './yaml-file.js';
import type { SettingOutcome } from './kubelet-config.js';

/** Default port of the metrics endpoint (ports.ProxyStatusPort). */
const METRICS_PORT = 10249;

export interface KubeProxyConfig {
  present: boolean;
  /** metricsBindAddress, defaulted like KubeProxyConfiguration v1alpha1 (127.0.0.1:10249). */
  metricsBindAddress(): SettingOutcome<string>;
  /** clientConnection.kubeconfig (or --kubeconfig without --config); undefined when not set. */
  kubeconfig(): SettingOutcome<string | undefined>;
}

export function loadKubeProxyConfig(view: HostView, d: KubeProxyDiscovery): Promise<KubeProxyConfig> {
  return view.cached('kube-proxy-config', () => build(view, d));
}

async function build(view: HostView, d: KubeProxyDiscovery): Promise<KubeProxyConfig> {
  const args = parseArgs(d.args);
  let data: Record<string, unknown> | undefined;
  let error: string | undefined;
  let label = '';
  if (d.configFile) {
    label = d.configFile.hostPath;
    view.watch(label);
    const out = await loadYamlMapping(view, label, 'kube-proxy config file');
    if (out.kind === 'ok') {
      const kind = out.data['kind'];
      if (kind !== undefined && kind !== 'KubeProxyConfiguration') {
        error = `kube-proxy config file ${label} is a ${describeValue(kind)}, not a KubeProxyConfiguration`;
      } else data = out.data;
    } else if (out.kind === 'error') error = out.message;
  }
  const usesFile = d.configFile !== undefined && (data !== undefined || error !== undefined || d.configFile.source !== 'default');
  const present = d.process !== undefined || data !== undefined || error !== undefined;

  const field = (keys: string[], flag: string): SettingOutcome<string | undefined> => {
    if (usesFile) {
      if (error) return { ok: false, error };
      const raw = data ? getPath(data, keys) : undefined;
      if (raw === undefined || raw === null || raw === '') {
        return { ok: true, setting: { value: undefined, source: 'default', origin: 'not set' } };
      }
      if (typeof raw !== 'string') {
        return { ok: false, error: `${keys.join('.')} in ${label} is ${describeValue(raw)}, not a string` };
      }
      return { ok: true, setting: { value: raw, source: 'file', origin: `in ${label}` } };
    }
    const v = lastFlag(args, flag);
    if (v === undefined || v === '') return { ok: true, setting: { value: undefined, source: 'default', origin: 'not set' } };
    return { ok: true, setting: { value: v, source: 'flag', origin: `--${flag}=${v} on the kube-proxy command line` } };
  };

  return {
    present,
    metricsBindAddress: () => {
      const out = field(['metricsBindAddress'], 'metrics-bind-address');
      if (!out.ok || out.setting.value !== undefined) return out as SettingOutcome<string>;
      // Defaulting picks the loopback of the family of bindAddress (v1alpha1 getDefaultAddresses).
      const bind = usesFile && data ? getPath(data, ['bindAddress']) : lastFlag(args, 'bind-address');
      const loopback = typeof bind === 'string' && bind.includes(':') ? '[::1]' : '127.0.0.1';
      return {
        ok: true,
        setting: { value: `${loopback}:${METRICS_PORT}`, source: 'default', origin: "not set; kube-proxy's default" },
      };
    },
    kubeconfig: () => field(['clientConnection', 'kubeconfig'], 'kubeconfig'),
  };
}
