// Argument parsing on node:util's parseArgs, driven by the command table (commands.ts): the
// config file fills what the command line leaves out, and a mistake is one line with a suggestion.
import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.js';
import { COMMANDS, type CommandName, type OptionSpec } from './commands.js';
import { configDefault } from './config.js';

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The option of `options` closest to `given` (without dashes), when one is close. */
export function suggestOption(
  given: string,
  options: Readonly<Record<string, OptionSpec>>,
): string | undefined {
  const name = given.replace(/^-+/, '').split('=')[0]!;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const o of Object.keys(options)) {
    const d = o.startsWith(name) || name.startsWith(o) ? Math.min(1, distance(name, o)) : distance(name, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

function usageError(command: CommandName, err: unknown): UsageError {
  const e = err as { code?: string; message?: string };
  const msg = (e.message ?? String(err)).split('\n')[0]!;
  const quoted = /'([^']*)'/.exec(msg)?.[1] ?? '';
  const options = COMMANDS[command].options as Record<string, OptionSpec>;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const opt = quoted.split('=')[0]!;
    const s = suggestOption(opt, options);
    return new UsageError(
      `unknown option ${opt} for ${command}; ${s ? `did you mean --${s}?` : `see bitswarm help ${command}`}`,
    );
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted.split(' ')[0]!;
    const spec = options[flag.replace(/^--/, '')];
    if (spec?.type === 'boolean') return new UsageError(`${command}: ${flag} takes no value`);
    return new UsageError(`${command}: ${flag} needs a value${spec?.arg ? ` (${flag} ${spec.arg})` : ''}`);
  }
  return new UsageError(`${command}: ${msg.replace(/^Unknown/, 'unknown')}`);
}

/** The values parseArgs gives for an options table. */
export type OptionValues<O> = {
  -readonly [K in keyof O]?: O[K] extends { readonly type: 'boolean' }
    ? boolean
    : O[K] extends { readonly multiple: true }
      ? string[]
      : string;
};

/** Parses a command's arguments with the options the table gives it, defaults from the config file. */
export function parse<N extends CommandName>(
  command: N,
  argv: string[],
): { values: OptionValues<(typeof COMMANDS)[N]['options']>; positionals: string[] } {
  const options = COMMANDS[command].options as Readonly<Record<string, OptionSpec>>;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(command, err);
  }
  const values = parsed.values;
  for (const name of Object.keys(options)) {
    if (values[name] !== undefined) continue;
    const d = configDefault(command, name);
    if (d !== undefined) values[name] = d;
  }
  return { values: values as OptionValues<(typeof COMMANDS)[N]['options']>, positionals: parsed.positionals };
}

export function intOption(
  command: string,
  name: string,
  v: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${command}: --${name}: "${v}" is not a whole number`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${command}: --${name}: ${n} is out of range (${min}–${max})`);
  return n;
}

/** Parses a byte size: plain bytes or with a K/M/G suffix (powers of 1024). */
export function sizeOption(command: string, name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`${command}: --${name}: "${v}" is not a size (e.g. 262144 or 256K)`);
  const mult =
    { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2]?.[0] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * mult;
}
