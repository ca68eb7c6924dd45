// The agent's /baselines routes on its HTTP endpoint, which `nodewarden baselines` calls:
//   GET  /baselines                      every workload's baseline (state, executables)
//   POST /baselines/lock?workload=PREFIX stop learning now (all, or workloads whose key starts so)
//   POST /baselines/reset?workload=PREFIX forget and learn again
// POST answers only on loopback (core/http.ts): run it on the node or in the agent's pod.

import type { Route } from '../core/http.js';
import type { Baselines } from '../rules/baseline.js';

export function baselineRoutes(get: () => Baselines | null): Record<string, Route> {
  const off = { status: 404, body: { error: 'process baselines are off (rules.baselines.enabled: false)' } };
  const prefix = (q: URLSearchParams) => (q.get('workload') ?? '').slice(0, 512);
  return {
    '/baselines': {
      method: 'GET',
      handle: () => {
        const b = get();
        return b ? { status: 200, body: { baselines: b.list() } } : off;
      },
    },
    '/baselines/lock': {
      method: 'POST',
      handle: (q) => {
        const b = get();
        if (!b) return off;
        const n = b.lock(prefix(q));
        b.save();
        return { status: 200, body: { locked: n } };
      },
    },
    '/baselines/reset': {
      method: 'POST',
      handle: (q) => {
        const b = get();
        if (!b) return off;
        const n = b.reset(prefix(q));
        b.save();
        return { status: 200, body: { reset: n } };
      },
    },
  };
}
