// Reading a systemd service the way systemd does, as far as the kubelet needs it: the unit file
// and its drop-ins in order, ExecStart= (an empty assignment resets it), Environment= and
// EnvironmentFile=, then the command line with $VAR / ${VAR} expanded. Pure functions over text.

/** The [Service] settings that shape a command line, gathered over a unit and its drop-ins. */
export interface ServiceSettings {
  execStart?: string;
  /** Environment= assignments in order (later ones win). */
  environment: Array<[string, string]>;
  /** EnvironmentFile= entries in order; `optional` when prefixed with '-'. */
  environmentFiles: Array<{ path: string; optional: boolean }>;
}

export function emptyServiceSettings(): ServiceSettings {
  return { environment: [], environmentFiles: [] };
}

/** Fold one unit file (or drop-in) into the settings, as systemd would when reading it next. */
export function applyUnitText(settings: ServiceSettings, text: string): void {
  let section = '';
  for (const line of joinContinuations(text)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
      section = trimmed.slice(1, -1);
      continue;
    }
    if (section !== 'Service') continue;
    const eq = trimmed.indexOf('=');
    if (eq < 0) continue;
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (key === 'ExecStart') {
      // An empty ExecStart= clears earlier ones: drop-ins use it to replace the command.
      settings.execStart = value === '' ? undefined : value;
    } else if (key === 'Environment') {
      for (const word of splitWords(value)) {
        const at = word.indexOf('=');
        if (at > 0) settings.environment.push([word.slice(0, at), word.slice(at + 1)]);
      }
    } else if (key === 'EnvironmentFile') {
      if (value === '') settings.environmentFiles = [];
      else {
        const optional = value.startsWith('-');
        settings.environmentFiles.push({ path: optional ? value.slice(1) : value, optional });
      }
    }
  }
}

function joinContinuations(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (raw.endsWith('\\')) {
      pending += raw.slice(0, -1) + ' ';
      continue;
    }
    out.push(pending + raw);
    pending = '';
  }
  if (pending !== '') out.push(pending);
  return out;
}

/** KEY=value lines of an EnvironmentFile; quotes around values are removed, comments skipped. */
export function parseEnvironmentFile(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of joinContinuations(text)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) continue;
    const key = trimmed.slice(0, eq).trim();
    let value = trimmed.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!)) {
      value = value.slice(1, -1);
    }
    out.push([key, value]);
  }
  return out;
}

/**
 * The argv an ExecStart= line runs, with variables expanded: a word that is exactly `$NAME`
 * becomes the variable's value split on whitespace (none when unset or empty); `${NAME}` inside
 * a word is replaced by the value as is. The executable's prefixes (-, @, +, !, :) are removed.
 */
export function expandExecStart(execStart: string, env: ReadonlyMap<string, string>): string[] {
  const argv: string[] = [];
  for (const { word, quoted } of splitWordsQuoted(execStart)) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole && !quoted) {
      const value = env.get(whole[1]!) ?? '';
      argv.push(...value.split(/\s+/).filter((w) => w !== ''));
      continue;
    }
    argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env.get(name) ?? ''));
  }
  if (argv.length > 0) argv[0] = argv[0]!.replace(/^[-@+!:]+/, '');
  return argv;
}

function splitWords(text: string): string[] {
  return splitWordsQuoted(text).map((w) => w.word);
}

/** Whitespace-separated words with systemd's double and single quotes and backslash escapes. */
function splitWordsQuoted(text: string): Array<{ word: string; quoted: boolean }> {
  const words: Array<{ word: string; quoted: boolean }> = [];
  let current = '';
  let inWord = false;
  let quoted = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      quoted = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push({ word: current, quoted });
      current = '';
      inWord = false;
      quoted = false;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
      continue;
    }
    current += c;
    inWord = true;
  }
  if (inWord) words.push({ word: current, quoted });
  return words;
}
