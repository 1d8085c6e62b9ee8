// The control API's shapes, shared by the control layer (control.ts), the router (server.ts), the
// route table that the OpenAPI document is generated from (routes.ts) and the CLI's client: what a
// request carries and what a reply holds. No I/O here.

import type { Model } from './routes.js';

export type { TorrentView } from '../session/manager.js';

/**
 * A refused operation, by condition: the router turns the code into a status (ERR_BAD_REQUEST 400,
 * ERR_NOT_FOUND 404, ERR_CONFLICT 409); the message is the one line the client shows.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type ApiErrorCode = 'ERR_BAD_REQUEST' | 'ERR_NOT_FOUND' | 'ERR_CONFLICT';

/** Every error reply's body. */
export interface ErrorReply {
  error: { code: string; message: string };
}

/** A request body: a JSON object, not yet checked (the control layer checks each field it reads). */
export type JsonBody = Readonly<Record<string, unknown>>;

// The reply types are derived from the route table's schemas (routes.ts): the control layer must
// return what the schemas say (the compiler checks it), and the CLI's client reads the same types.

export type SessionStats = Model<'SessionStats'>;
/** One torrent in full: its view, its files, peers, pieces, trackers, web seeds and limits. */
export type TorrentDetail = Model<'TorrentDetail'>;
export type FileDetail = TorrentDetail['files'][number];
export type AddReply = Model<'AddReply'>;
export type RemoveReply = Model<'RemoveReply'>;
export type StreamUrlReply = Model<'StreamUrl'>;
