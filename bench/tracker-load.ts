// Load generator for the tracker benchmark: announces of a fixed population of distinct peers over
// HTTP (raw sockets, keep-alive or one connection per request) and over UDP (BEP 15, a window of
// requests in flight per socket), against any tracker on loopback. Counts answered announces.

import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { percentEncode } from '../src/protocol/tracker-http.js';
import { UDP_PROTOCOL_ID } from '../src/protocol/tracker-udp.js';

export interface Population {
  torrents: number;
  peers: number;
}

/** Peer i: torrent i % torrents, port 10000 + ⌊i / torrents⌋ (distinct per torrent), its own id. */
export class PeerSet {
  readonly hashes: Buffer[];
  readonly #hashQ: string[];
  constructor(readonly pop: Population) {
    this.hashes = Array.from({ length: pop.torrents }, (_, t) => {
      const h = Buffer.alloc(20, 0xb5);
      h.writeUInt32BE(t, 0);
      h.writeUInt32BE((0x9e3779b9 ^ t) >>> 0, 16);
      return h;
    });
    this.#hashQ = this.hashes.map((h) => percentEncode(h));
  }

  torrentOf(i: number): number {
    return i % this.pop.torrents;
  }

  portOf(i: number): number {
    return 10_000 + Math.floor(i / this.pop.torrents);
  }

  peerId(i: number): string {
    return `-LG0001-${String(i).padStart(12, '0')}`;
  }

  httpTarget(i: number, event: string): string {
    const ev = event === '' ? '' : `&event=${event}`;
    return `/announce?info_hash=${this.#hashQ[this.torrentOf(i)]}&peer_id=${this.peerId(i)}&port=${this.portOf(i)}&uploaded=0&downloaded=0&left=${i % 4 === 0 ? 0 : 1000}&compact=1&numwant=50${ev}`;
  }
}

export interface LoadResult {
  answered: number;
  errors: number;
  seconds: number;
  /** CPU time of this (generator) process over the run, as a fraction of wall time. */
  generatorCpu: number;
}

export interface HttpLoadOptions {
  port: number;
  connections: number;
  keepAlive: boolean;
  /** Stop after this long… */
  durationMs?: number;
  /** …or after announcing each of these peers once, in order. */
  peers?: { from: number; to: number };
  event: string;
}

/** Runs HTTP announces from `connections` parallel connections. */
export function httpLoad(set: PeerSet, o: HttpLoadOptions): Promise<LoadResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let answered = 0;
    let errors = 0;
    let next = o.peers?.from ?? 0;
    let active = 0;
    let done = false;
    const end = o.peers?.to ?? Number.POSITIVE_INFINITY;
    const stopAt = o.durationMs !== undefined ? t0 + o.durationMs : Number.POSITIVE_INFINITY;
    const hostHeader = `Host: 127.0.0.1:${o.port}\r\n`;
    const connHeader = o.keepAlive ? 'Connection: keep-alive\r\n' : 'Connection: close\r\n';
    const take = (): number | undefined => {
      if (performance.now() >= stopAt || next >= end) return undefined;
      const i = next++;
      return o.peers !== undefined ? i : i % set.pop.peers;
    };
    const finish = (): void => {
      if (done || active > 0) return;
      done = true;
      const c = process.cpuUsage(cpu0);
      const seconds = (performance.now() - t0) / 1000;
      resolve({ answered, errors, seconds, generatorCpu: (c.user + c.system) / 1e6 / seconds });
    };
    const lane = (): void => {
      let peer = take();
      if (peer === undefined) {
        finish();
        return;
      }
      active++;
      let sock: Socket | undefined;
      let buf: Buffer = Buffer.alloc(0);
      let expectBody = -1;
      let bodyStart = 0;
      let serverCloses = false;
      const request = (s: Socket, i: number): void => {
        s.write(`GET ${set.httpTarget(i, o.event)} HTTP/1.1\r\n${hostHeader}${connHeader}\r\n`);
      };
      const open = (i: number): void => {
        const s = connect(o.port, '127.0.0.1');
        sock = s;
        s.setNoDelay(true);
        buf = Buffer.alloc(0);
        expectBody = -1;
        serverCloses = !o.keepAlive;
        s.on('connect', () => request(s, i));
        s.on('data', (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          if (expectBody < 0) {
            const he = buf.indexOf('\r\n\r\n');
            if (he < 0) return;
            const head = buf.toString('latin1', 0, he);
            const m = /content-length: *(\d+)/i.exec(head);
            expectBody = m ? Number(m[1]) : 0;
            bodyStart = he + 4;
            if (/connection: *close/i.test(head)) serverCloses = true;
            if (!head.startsWith('HTTP/1.1 200') && !head.startsWith('HTTP/1.0 200')) errors++;
          }
          if (buf.length < bodyStart + expectBody) return;
          const body = buf.subarray(bodyStart, bodyStart + expectBody);
          if (body.includes('failure reason') || !body.includes('8:interval')) errors++;
          else answered++;
          buf = buf.subarray(bodyStart + expectBody);
          expectBody = -1;
          peer = take();
          if (peer === undefined) {
            sock = undefined;
            s.destroy();
            active--;
            finish();
            return;
          }
          if (serverCloses) {
            s.removeAllListeners('close');
            s.destroy();
            open(peer);
          } else request(s, peer);
        });
        s.on('error', () => undefined);
        s.on('close', () => {
          // Closed under us before the reply: count an error and carry on with a new connection.
          if (sock !== s) return;
          errors++;
          peer = take();
          if (peer === undefined) {
            active--;
            finish();
          } else open(peer);
        });
      };
      open(peer);
    };
    for (let c = 0; c < o.connections; c++) lane();
  });
}

export interface UdpLoadOptions {
  port: number;
  sockets: number;
  /** Requests in flight per socket. */
  window: number;
  durationMs: number;
}

/** Runs BEP 15 announces: connect once per socket, then keep `window` announces in flight. */
export async function udpLoad(set: PeerSet, o: UdpLoadOptions): Promise<LoadResult> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let answered = 0;
  let errors = 0;
  let next = 0;
  const stopAt = t0 + o.durationMs;
  const lanes = Array.from(
    { length: o.sockets },
    (_, k) =>
      new Promise<void>((resolve) => {
        const s = createSocket('udp4');
        const inFlight = new Map<number, number>(); // transaction id → sent at
        let cid: Buffer | undefined;
        let tidSeq = (k + 1) << 24;
        const packet = Buffer.alloc(98);
        const sendAnnounce = (): void => {
          if (cid === undefined) return;
          const i = next++ % set.pop.peers;
          const tid = tidSeq++ >>> 0;
          cid.copy(packet, 0);
          packet.writeUInt32BE(1, 8);
          packet.writeUInt32BE(tid, 12);
          set.hashes[set.torrentOf(i)]!.copy(packet, 16);
          packet.write(set.peerId(i), 36, 'latin1');
          packet.fill(0, 56, 80);
          packet.writeUInt32BE(i % 4 === 0 ? 0 : 1000, 68);
          packet.writeUInt32BE(0, 80);
          packet.writeUInt32BE(0, 84);
          packet.writeUInt32BE(k, 88);
          packet.writeInt32BE(50, 92);
          packet.writeUInt16BE(set.portOf(i), 96);
          inFlight.set(tid, performance.now());
          s.send(packet);
        };
        const timer = setInterval(() => {
          const now = performance.now();
          if (now >= stopAt) {
            clearInterval(timer);
            s.close();
            resolve();
            return;
          }
          if (cid === undefined) {
            const c = Buffer.alloc(16);
            c.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
            c.writeUInt32BE(0, 8);
            c.writeUInt32BE(0x7fff0000 + k, 12);
            s.send(c);
            return;
          }
          // Lost datagrams (the tracker's receive buffer overflowed): replace them.
          for (const [tid, at] of inFlight) {
            if (now - at > 500) {
              inFlight.delete(tid);
              errors++;
              sendAnnounce();
            }
          }
        }, 100);
        s.on('message', (msg: Buffer) => {
          if (msg.length < 8) return;
          const action = msg.readUInt32BE(0);
          if (action === 0 && cid === undefined && msg.length >= 16) {
            cid = Buffer.from(msg.subarray(8, 16));
            for (let w = 0; w < o.window; w++) sendAnnounce();
            return;
          }
          const tid = msg.readUInt32BE(4);
          if (!inFlight.delete(tid)) return;
          if (action === 1) answered++;
          else errors++;
          if (performance.now() < stopAt) sendAnnounce();
        });
        s.connect(o.port, '127.0.0.1', () => {
          const c = Buffer.alloc(16);
          c.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
          c.writeUInt32BE(0, 8);
          c.writeUInt32BE(0x7fff0000 + k, 12);
          s.send(c);
        });
      }),
  );
  await Promise.all(lanes);
  const c = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  return { answered, errors, seconds, generatorCpu: (c.user + c.system) / 1e6 / seconds };
}
