// Storage in memory, for tests and simulated swarms. Behaves like FileStorage: a file "exists" once
// a piece touching it was written (zero-length files from `open()`), reads of bytes not stored reject
// with ERR_STORAGE_MISSING, padding reads as zeros and is never stored. Data survives close/open.

import type { Metainfo } from '../protocol/metainfo.js';
import { StorageError, StorageErrorCode } from './errors.js';
import { type FileSlice, OpenGate, PieceMap, type Storage } from './storage.js';

export type MemoryLayout = Pick<Metainfo, 'files' | 'pieceLength' | 'pieceCount' | 'totalLength'>;

export class MemoryStorage implements Storage {
  readonly #meta: MemoryLayout;
  readonly #map: PieceMap;
  readonly #gate = new OpenGate();
  /** One buffer per file, allocated at full length when the file is first written. */
  readonly #files: (Buffer | undefined)[];

  constructor(metainfo: MemoryLayout) {
    this.#meta = metainfo;
    this.#map = new PieceMap(metainfo);
    this.#files = metainfo.files.map(() => undefined);
  }

  /** A storage already holding all of `data` (the torrent's bytes in order), e.g. for a seeder. */
  static async withData(metainfo: MemoryLayout, data: Uint8Array): Promise<MemoryStorage> {
    if (data.length !== metainfo.totalLength) {
      throw new StorageError(
        StorageErrorCode.Range,
        '',
        `data of ${data.length} bytes for a torrent of ${metainfo.totalLength}`,
      );
    }
    const s = new MemoryStorage(metainfo);
    await s.open();
    metainfo.files.forEach((f, i) => {
      if (!f.padding) s.#files[i] = Buffer.from(data.subarray(f.offset, f.offset + f.length));
    });
    return s;
  }

  /** Whether the file exists (tests compare this with FileStorage's files on disk). */
  fileExists(index: number): boolean {
    return this.#files[index] !== undefined;
  }

  open(): Promise<void> {
    if (!this.#gate.isOpen) {
      this.#meta.files.forEach((f, i) => {
        if (f.length === 0 && !f.padding && this.#files[i] === undefined) this.#files[i] = Buffer.alloc(0);
      });
      this.#gate.markOpen();
    }
    return Promise.resolve();
  }

  /** Files in memory have no names to change. */
  pieceVerified(_piece: number): void {}

  read(piece: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.#gate.run('read', async () =>
      this.#read(
        piece,
        offset,
        length,
        into !== undefined && into.length >= length ? into.subarray(0, length) : undefined,
      ),
    );
  }

  write(piece: number, offset: number, data: Uint8Array): Promise<void> {
    return this.#gate.run('write', async () => {
      this.#map.check(piece, offset, data.length);
      this.#put(this.#map.slices(piece, offset, data.length), data);
    });
  }

  #put(slices: readonly FileSlice[], data: Uint8Array): void {
    for (const s of slices) {
      if (s.padding) continue;
      let file = this.#files[s.file];
      if (file === undefined) {
        file = Buffer.alloc(this.#meta.files[s.file]!.length);
        this.#files[s.file] = file;
      }
      file.set(data.subarray(s.bufferOffset, s.bufferOffset + s.length), s.fileOffset);
    }
  }

  readPiece(piece: number, into?: Buffer): Promise<Buffer> {
    return this.#gate.run('readPiece', async () => this.#read(piece, 0, this.#map.pieceLength(piece), into));
  }

  #read(piece: number, offset: number, length: number, into?: Buffer): Buffer {
    const slices = this.#map.slices(piece, offset, length);
    const out = into?.length === length ? into.fill(0) : Buffer.alloc(length);
    for (const s of slices) {
      if (s.padding) continue; // already zeros
      const file = this.#files[s.file];
      if (file === undefined) {
        throw new StorageError(
          StorageErrorCode.Missing,
          this.#name(s.file),
          `bytes ${s.fileOffset}+${s.length} are not stored: the file does not exist`,
        );
      }
      file.copy(out, s.bufferOffset, s.fileOffset, s.fileOffset + s.length);
    }
    return out;
  }

  writePiece(piece: number, data: Uint8Array): Promise<void> {
    return this.#gate.run('writePiece', async () => {
      this.#map.checkWhole(piece, data);
      this.#put(this.#map.pieceSlices(piece), data);
    });
  }

  mayHave(piece: number): Promise<boolean> {
    return this.#gate.run('mayHave', async () => {
      const slices = this.#map.pieceSlices(piece);
      if (slices.every((s) => s.padding)) return true;
      return slices.some((s) => !s.padding && this.#files[s.file] !== undefined);
    });
  }

  mayHaveAny(): Promise<boolean> {
    return this.#gate.run('mayHaveAny', async () => {
      // A piece made only of padding always "may have": torrents with padding take the long way.
      return this.#meta.files.some((f, i) => f.padding || (f.length > 0 && this.#files[i] !== undefined));
    });
  }

  flush(): Promise<void> {
    return this.#gate.run('flush', async () => {});
  }

  async close(): Promise<void> {
    await this.#gate.shut();
  }

  #name(index: number): string {
    return this.#meta.files[index]!.path.join('/');
  }
}
