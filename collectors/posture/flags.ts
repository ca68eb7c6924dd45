// Command-line parsing the way pflag (the library the kubelet and kube-proxy use) reads it:
// `--name=value`, `--name value`, and boolean flags that never consume the next word. Parsing is
// total: any argv gives a result, so a strange command line can never stop an evaluation.

export interface ParsedArgs {
  /** Every value given for each flag, in order (the last one wins for scalar flags). */
  flags: Map<string, string[]>;
  positionals: string[];
}

/**
 * Boolean flags of the kubelet and kube-proxy that matter here (and a few common ones). pflag
 * lets a boolean flag stand alone (`--anonymous-auth` means true) and never takes the next word
 * as its value, so `--rotate-certificates false` leaves `false` as a positional argument.
 */
export const BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  'anonymous-auth',
  'authentication-token-webhook',
  'make-iptables-util-chains',
  'rotate-certificates',
  'rotate-server-certificates',
  'protect-kernel-defaults',
  'fail-swap-on',
  'register-node',
  'cgroups-per-qos',
  'serialize-image-pulls',
  'enable-server',
  'enable-debugging-handlers',
  'seccomp-default',
  'masquerade-all',
  'cleanup',
  'logtostderr',
  'alsologtostderr',
]);

export function parseArgs(args: readonly string[], booleans: ReadonlySet<string> = BOOLEAN_FLAGS): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const add = (name: string, value: string): void => {
    const list = flags.get(name);
    if (list) list.push(value);
    else flags.set(name, [value]);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    // The kubelet normalises `_` to `-` in flag names (--anonymous_auth is --anonymous-auth).
    const raw = arg.replace(/^--?/, '');
    const eq = raw.indexOf('=');
    if (eq >= 0) {
      add(raw.slice(0, eq).replace(/_/g, '-'), raw.slice(eq + 1));
      continue;
    }
    const body = raw.replace(/_/g, '-');
    if (booleans.has(body)) {
      add(body, 'true');
      continue;
    }
    // pflag's `--name value` takes the next word whatever it looks like (`--pod-max-pids -1`).
    // We take it unless it looks like another flag: the boolean list above cannot name every
    // boolean flag of every version, and an unlisted one must not swallow `--config=…`.
    const next = args[i + 1];
    if (next !== undefined && !/^--?[a-zA-Z]/.test(next)) {
      add(body, next);
      i++;
    } else {
      // A non-boolean flag without a value: pflag would refuse to start; keep it visible as ''.
      add(body, '');
    }
  }
  return { flags, positionals };
}

/** The effective value of a scalar flag: pflag keeps the last occurrence. */
export function lastFlag(parsed: ParsedArgs, name: string): string | undefined {
  const values = parsed.flags.get(name);
  return values === undefined ? undefined : values[values.length - 1];
}

/** Go's strconv.ParseBool, which pflag uses for boolean flags; undefined when it is not a boolean. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * `--feature-gates=A=true,B=false`: pflag's mapStringBool merges repeated occurrences, later
 * keys overriding earlier ones. Entries that are not `name=bool` are returned in `invalid`.
 */
export function parseFeatureGates(values: readonly string[]): { gates: Map<string, boolean>; invalid: string[] } {
  const gates = new Map<string, boolean>();
  const invalid: string[] = [];
  for (const value of values) {
    for (const entry of value.split(',')) {
      const item = entry.trim();
      if (item === '') continue;
      const eq = item.indexOf('=');
      const parsed = eq > 0 ? parseGoBool(item.slice(eq + 1).trim()) : undefined;
      if (eq <= 0 || parsed === undefined) invalid.push(item);
      else gates.set(item.slice(0, eq).trim(), parsed);
    }
  }
  return { gates, invalid };
}

/**
 * A Go time.Duration string ('4h0m0s', '5m', '300ms', '0') in milliseconds; undefined when it is
 * not one. Go accepts a bare '0' but no other unitless number.
 */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/u.exec(s);
  if (!match) return undefined;
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gu)) {
    total += Number(part[1]) * units[part[2]!]!;
  }
  return match[1] === '-' ? -total : total;
}
