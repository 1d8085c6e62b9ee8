// The package's public entry (`import { Client } from 'bitswarm'`): the library's classes, their
// option and event types, and the typed errors. Everything else in the package is internal and
// cannot be imported by path (package.json `exports`).

export type { TorrentStatus } from '../session/manager.js';
export {
  LOG_LEVELS,
  type LogFields,
  Logger,
  type LoggerOptions,
  type LogLevel,
  type LogRecord,
  type LogSink,
} from '../util/logger.js';
export { VERSION } from '../util/version.js';
export {
  type AddOptions,
  Client,
  type ClientEventMap,
  type ClientOptions,
  type SeedOptions,
} from './client.js';
export { ManagerError, SessionError, TorrentError, UsageError } from './errors.js';
export type { ReadStreamOptions } from './stream.js';
export { type PeerView, Torrent, type TorrentEventMap, TorrentFile } from './torrent.js';
