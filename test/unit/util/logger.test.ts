// The logger: levels filter, child loggers add fields, the human and JSON line formats, a sink that
// throws does not break the caller, and a bad level name is a usage error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  errorText,
  humanLine,
  jsonLine,
  LOG_LEVELS,
  Logger,
  type LogRecord,
  parseLogLevel,
} from '../../../src/util/logger.js';

function capture(level: Logger['level']): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { log: new Logger({ level, sink: (r) => records.push(r), now: () => 0 }), records };
}

test('a level writes itself and the more severe ones, nothing less severe', () => {
  for (const [i, level] of LOG_LEVELS.entries()) {
    const { log, records } = capture(level);
    for (const l of LOG_LEVELS) log[l](`at ${l}`);
    assert.deepEqual(
      records.map((r) => r.level),
      LOG_LEVELS.slice(0, i + 1),
      `level ${level}`,
    );
    assert.equal(log.enabled('error'), true);
    assert.equal(log.enabled('trace'), level === 'trace');
  }
});

test('the default level is warn; a child adds its fields and keeps the level and sink', () => {
  const records: LogRecord[] = [];
  const log = new Logger({ sink: (r) => records.push(r) });
  assert.equal(log.level, 'warn');
  const child = log.child({ torrent: 'ab' }).child({ peer: '127.0.0.1:1' });
  child.info('not written');
  child.warn('written', { piece: 3 });
  assert.equal(records.length, 1);
  assert.deepEqual(records[0]!.fields, { torrent: 'ab', peer: '127.0.0.1:1', piece: 3 });
});

test('human and JSON lines', () => {
  const r: LogRecord = {
    timeMs: Date.UTC(2026, 0, 2, 3, 4, 5),
    level: 'warn',
    msg: 'resume data not saved',
    fields: { torrent: 'ab12', error: 'EROFS: read-only file system', n: 2, none: undefined },
  };
  assert.equal(
    humanLine(r),
    'bitswarm: warn: resume data not saved torrent=ab12 error="EROFS: read-only file system" n=2',
  );
  assert.deepEqual(JSON.parse(jsonLine(r)), {
    time: '2026-01-02T03:04:05.000Z',
    level: 'warn',
    msg: 'resume data not saved',
    torrent: 'ab12',
    error: 'EROFS: read-only file system',
    n: 2,
  });
});

test('errorText: the first line of the message, with its code', () => {
  const e = Object.assign(new Error('cannot open\nmore'), { code: 'EACCES' });
  assert.equal(errorText(e), 'cannot open (EACCES)');
  assert.equal(errorText(Object.assign(new Error('EACCES: denied'), { code: 'EACCES' })), 'EACCES: denied');
  assert.equal(errorText('plain'), 'plain');
});

test('a sink that throws does not reach the caller', () => {
  const log = new Logger({
    level: 'info',
    sink: () => {
      throw new Error('EPIPE');
    },
  });
  assert.doesNotThrow(() => log.error('x'));
});

test('parseLogLevel: the five names (any case); anything else is a one-line usage error', () => {
  assert.equal(parseLogLevel('DEBUG'), 'debug');
  assert.throws(
    () => parseLogLevel('loud'),
    (e: Error & { code?: string }) =>
      e.code === 'ERR_USAGE' &&
      e.message === '--log-level: "loud" is not a log level (error, warn, info, debug, trace)',
  );
});
