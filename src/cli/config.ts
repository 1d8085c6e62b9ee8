// The config file: defaults for any option of any command, keys being the long option names.
//   $XDG_CONFIG_HOME/bitswarm/config.json (default ~/.config/bitswarm/config.json), or --config FILE.
//   { "port": 6881, "no-dht": true, "download": { "dir": "~/films" } }
// A top-level key applies to every command that has that option; an object under a command's name
// applies to that command only (and wins). The command line wins over both. A bad file is one line
// naming the file and the key (exit 2). Also here: the default download folder (XDG_DOWNLOAD_DIR).

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../util/errors.js';
import { COMMANDS, type CommandName, isCommand, type OptionSpec } from './commands.js';

export type ConfigValue = string | boolean | string[];
export interface Config {
  file: string | undefined;
  global: Record<string, ConfigValue>;
  commands: Partial<Record<CommandName, Record<string, ConfigValue>>>;
}

export const EMPTY_CONFIG: Config = { file: undefined, global: {}, commands: {} };

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'bitswarm', 'config.json');
}

function optionSpecs(name: string): OptionSpec[] {
  const out: OptionSpec[] = [];
  for (const c of Object.values(COMMANDS)) {
    const o = (c.options as Record<string, OptionSpec>)[name];
    if (o) out.push(o);
  }
  return out;
}

function checkValue(file: string, key: string, option: string, v: unknown, specs: OptionSpec[]): ConfigValue {
  const bad = (what: string): never => {
    throw new UsageError(`${file}: key "${key}": ${what}`);
  };
  const spec = specs[0]!;
  if (spec.type === 'boolean') {
    if (typeof v !== 'boolean') bad('expected true or false');
    return v as boolean;
  }
  const one = (x: unknown): string => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' && Number.isFinite(x)) return String(x);
    return bad(`expected a string${spec.multiple ? ' or a list of strings' : ''} for --${option}`);
  };
  if (Array.isArray(v)) {
    if (!spec.multiple) bad(`--${option} takes one value, not a list`);
    return v.map(one);
  }
  return spec.multiple ? [one(v)] : one(v);
}

/** Reads and checks the config file; a missing default file is no config, a missing named one an error. */
export function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = explicit ?? defaultConfigPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (explicit === undefined && code === 'ENOENT') return EMPTY_CONFIG;
    throw new UsageError(`${file}: cannot read the config file (${code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`${file}: expected a JSON object of option names and values`);
  const config: Config = { file, global: {}, commands: {} };
  for (const [key, v] of Object.entries(parsed)) {
    if (isCommand(key) && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const own: Record<string, ConfigValue> = {};
      const options = COMMANDS[key].options as Record<string, OptionSpec>;
      for (const [k, x] of Object.entries(v)) {
        const spec = options[k];
        if (!spec) throw new UsageError(`${file}: key "${key}.${k}": ${key} has no option --${k}`);
        own[k] = checkValue(file, `${key}.${k}`, k, x, [spec]);
      }
      config.commands[key] = own;
      continue;
    }
    const specs = optionSpecs(key);
    if (specs.length === 0) throw new UsageError(`${file}: key "${key}": no command has an option --${key}`);
    config.global[key] = checkValue(file, key, key, v, specs);
  }
  return config;
}

let current: Config = EMPTY_CONFIG;

/** Set once by main() before a command runs. */
export function useConfig(c: Config): void {
  current = c;
}

/** The config's default for one option of one command, if any. */
export function configDefault(command: string, option: string): ConfigValue | undefined {
  const own = isCommand(command) ? current.commands[command]?.[option] : undefined;
  if (own !== undefined) return own;
  const spec = isCommand(command)
    ? (COMMANDS[command].options as Record<string, OptionSpec>)[option]
    : undefined;
  const g = current.global[option];
  if (!spec || g === undefined) return undefined;
  // A global key with the same name may mean another type in another command: use it only if it fits.
  if (spec.type === 'boolean' ? typeof g !== 'boolean' : typeof g === 'boolean') return undefined;
  if (spec.type === 'string' && !spec.multiple && Array.isArray(g)) return undefined;
  return g;
}

/**
 * The default download folder: $XDG_DOWNLOAD_DIR, else XDG_DOWNLOAD_DIR in ~/.config/user-dirs.dirs
 * (as xdg-user-dirs writes it), else `fallback`.
 */
export function defaultDownloadDir(fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = homedir();
  const expand = (p: string): string => p.replace(/^\$HOME(?=\/|$)/, home).replace(/^~(?=\/|$)/, home);
  const fromEnv = env.XDG_DOWNLOAD_DIR;
  if (fromEnv && isAbsolute(expand(fromEnv))) return expand(fromEnv);
  const configHome =
    env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  try {
    const text = readFileSync(join(configHome, 'user-dirs.dirs'), 'utf8');
    const m = /^XDG_DOWNLOAD_DIR="([^"]*)"/m.exec(text);
    if (m?.[1]) {
      const p = expand(m[1]);
      if (isAbsolute(p) && p !== home) return p;
    }
  } catch {
    // no user-dirs.dirs: the fallback
  }
  return fallback;
}
