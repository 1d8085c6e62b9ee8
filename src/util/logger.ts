// A small levelled logger, passed in: the CLI, the daemon and the library's Client make one and hand
// it down (Session → manager, API server, discovery); a test passes one whose sink keeps the records.
// There is no global logger. Levels, most severe first: error, warn, info, debug, trace. A record is
// a message and fields (torrent, peer, what was being done, the error); the sink decides the format:
// human lines on stderr for the CLI, JSON lines for the daemon.

import { UsageError } from './errors.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What a record says besides its message: `torrent` (info hash hex), `peer` (host:port), `error`, … */
export type LogFields = Readonly<Record<string, unknown>>;

export interface LogRecord {
  /** Milliseconds since the epoch. */
  readonly timeMs: number;
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: LogFields;
}

export type LogSink = (record: LogRecord) => void;

export interface LoggerOptions {
  /** The least severe level written (default `warn`). */
  level?: LogLevel;
  sink: LogSink;
  /** Fields every record of this logger carries. */
  fields?: LogFields;
  now?: () => number;
}

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export class Logger {
  readonly level: LogLevel;
  readonly #sink: LogSink;
  readonly #fields: LogFields;
  readonly #now: () => number;
  readonly #rank: number;

  constructor(options: LoggerOptions) {
    this.level = options.level ?? 'warn';
    this.#rank = RANK[this.level];
    this.#sink = options.sink;
    this.#fields = options.fields ?? {};
    this.#now = options.now ?? Date.now;
  }

  /** Whether a record of `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.#rank;
  }

  /** A logger that adds `fields` to every record (a torrent's, say), with the same level and sink. */
  child(fields: LogFields): Logger {
    return new Logger({
      level: this.level,
      sink: this.#sink,
      fields: { ...this.#fields, ...fields },
      now: this.#now,
    });
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] > this.#rank) return;
    const all = fields ? { ...this.#fields, ...fields } : this.#fields;
    try {
      this.#sink({ timeMs: this.#now(), level, msg, fields: all });
    } catch {
      // A sink that fails (a closed stderr, a full disk) must not turn a log line into a crash.
    }
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  trace(msg: string, fields?: LogFields): void {
    this.log('trace', msg, fields);
  }
}

/** A logger that writes nothing: the default of every layer that takes one. */
export const silentLogger = new Logger({ level: 'error', sink: () => undefined });

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/** A level named on the command line or in a config file; a bad one is a UsageError (exit 2). */
export function parseLogLevel(text: string, where = '--log-level'): LogLevel {
  const t = text.trim().toLowerCase();
  if (isLogLevel(t)) return t;
  throw new UsageError(`${where}: "${text}" is not a log level (${LOG_LEVELS.join(', ')})`);
}

/** An error as a log field: its message (first line), with its code when it has one. */
export function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const line = msg.split('\n')[0] ?? '';
  return typeof code === 'string' && !line.includes(code) ? `${line} (${code})` : line;
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(errorText(v));
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? String(v);
}

/** One human line: `bitswarm: warn: storage write failed torrent=4d42… error="EIO: i/o error"`. */
export function humanLine(r: LogRecord): string {
  const fields = Object.entries(r.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${fieldText(v)}`)
    .join('');
  return `bitswarm: ${r.level}: ${r.msg}${fields}`;
}

/** One JSON line: `{"time":"2026-…Z","level":"warn","msg":"…","torrent":"…"}`. */
export function jsonLine(r: LogRecord): string {
  const out: Record<string, unknown> = { time: new Date(r.timeMs).toISOString(), level: r.level, msg: r.msg };
  for (const [k, v] of Object.entries(r.fields)) {
    if (k === 'time' || k === 'level' || k === 'msg') continue;
    out[k] = v instanceof Error ? errorText(v) : typeof v === 'bigint' ? v.toString() : v;
  }
  return JSON.stringify(out);
}

/** A sink that formats each record as one line and hands it to `write` (with its newline). */
export function lineSink(write: (line: string) => void, format: (r: LogRecord) => string): LogSink {
  return (r) => write(`${format(r)}\n`);
}
