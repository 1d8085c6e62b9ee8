// Iterative Kademlia lookup (BEP 5): ask the closest nodes we know for nodes closer still, three
// queries in flight (alpha = 3), until the k closest nodes seen have all answered or failed. The
// query itself is injected (the node owns transactions, timeouts and sockets), so this file has no
// timers and no I/O, and a lookup can be driven by a fake network in tests.

import type { Peer } from '../../protocol/krpc.js';
import { type Contact, idToBigInt, K } from './routing-table.js';

export const ALPHA = 3;

export interface LookupReply {
  /** Closer nodes the queried node knows (nodes and nodes6 together). */
  nodes: Contact[];
  /** Peers of the info hash (get_peers only). */
  values?: Peer[];
  /** Write token (get_peers only), needed to announce to this node. */
  token?: Buffer;
}

export interface LookupOptions {
  target: Buffer;
  /** Where to start: the closest nodes of the routing table. */
  seeds: readonly Contact[];
  /** Sends the query; resolves undefined when the node did not answer (timeout, error reply). */
  query: (contact: Contact) => Promise<LookupReply | undefined>;
  /** Ids never to query (ours). */
  exclude?: Buffer;
  k?: number;
  alpha?: number;
  /** Upper bound on queries sent, whatever the network says. */
  maxQueries?: number;
  /** Upper bound on candidates remembered (the farthest are forgotten first). */
  maxCandidates?: number;
  /** Called with every batch of new peers as it arrives. */
  onPeers?: (peers: Peer[]) => void;
  signal?: AbortSignal;
}

export interface LookupResult {
  /** The k closest nodes that answered, closest first, with the token each gave (if any). */
  closest: { contact: Contact; token?: Buffer }[];
  /** Every distinct peer found. */
  peers: Peer[];
  /** Queries sent. */
  queried: number;
}

interface Candidate {
  contact: Contact;
  d: bigint;
  state: 'new' | 'pending' | 'answered' | 'failed';
  token?: Buffer;
}

export function iterativeLookup(o: LookupOptions): Promise<LookupResult> {
  const k = o.k ?? K;
  const alpha = o.alpha ?? ALPHA;
  const maxQueries = o.maxQueries ?? 200;
  const maxCandidates = o.maxCandidates ?? 256;
  const t = idToBigInt(o.target);
  const candidates = new Map<string, Candidate>();
  const addresses = new Set<string>();
  const peers = new Map<string, Peer>();
  let inFlight = 0;
  let queried = 0;
  let done = false;

  const add = (c: Contact): void => {
    if (c.id.length !== 20 || (o.exclude && c.id.equals(o.exclude))) return;
    if (c.port <= 0 || c.port > 65535) return;
    const hex = c.id.toString('hex');
    const addr = `${c.host}|${c.port}`;
    // One candidate per id and per address: a node cannot flood the lookup with aliases of itself.
    if (candidates.has(hex) || addresses.has(addr)) return;
    candidates.set(hex, { contact: c, d: idToBigInt(c.id) ^ t, state: 'new' });
    addresses.add(addr);
  };
  for (const s of o.seeds) add(s);

  const sorted = (): Candidate[] =>
    [...candidates.values()]
      .filter((c) => c.state !== 'failed')
      .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));

  return new Promise<LookupResult>((resolve) => {
    const finish = (): void => {
      if (done) return;
      done = true;
      o.signal?.removeEventListener('abort', finish);
      const closest = sorted()
        .filter((c) => c.state === 'answered')
        .slice(0, k)
        .map((c) => (c.token ? { contact: c.contact, token: c.token } : { contact: c.contact }));
      resolve({ closest, peers: [...peers.values()], queried });
    };
    if (o.signal?.aborted) return finish();
    o.signal?.addEventListener('abort', finish, { once: true });

    const pump = (): void => {
      if (done) return;
      const list = sorted();
      // Forget the farthest candidates not yet asked: a lookup's memory stays bounded.
      for (let i = maxCandidates; i < list.length; i++) {
        const c = list[i]!;
        if (c.state === 'new') {
          candidates.delete(c.contact.id.toString('hex'));
          addresses.delete(`${c.contact.host}|${c.contact.port}`);
        }
      }
      const top = list.slice(0, k);
      for (const c of top) {
        if (inFlight >= alpha || queried >= maxQueries) break;
        if (c.state !== 'new') continue;
        launch(c);
      }
      // Done when the k closest have all answered (or there is nothing left to wait for).
      if (top.every((c) => c.state === 'answered') || inFlight === 0) finish();
    };

    const launch = (c: Candidate): void => {
      c.state = 'pending';
      inFlight++;
      queried++;
      const settle = (reply: LookupReply | undefined): void => {
        inFlight--;
        if (done) return;
        if (!reply) {
          c.state = 'failed';
        } else {
          c.state = 'answered';
          if (reply.token) c.token = reply.token;
          for (const n of reply.nodes) add(n);
          if (reply.values && reply.values.length > 0) {
            const fresh: Peer[] = [];
            for (const p of reply.values) {
              const key = `${p.host}|${p.port}`;
              if (p.port === 0 || peers.has(key)) continue;
              peers.set(key, p);
              fresh.push(p);
            }
            if (fresh.length > 0) o.onPeers?.(fresh);
          }
        }
        pump();
      };
      o.query(c.contact).then(settle, () => settle(undefined));
    };

    pump();
  });
}
