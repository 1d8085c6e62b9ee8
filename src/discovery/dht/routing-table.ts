// The Kademlia routing table of BEP 5: 160-bit ids, k-buckets of 8 nodes covering id ranges; only the
// bucket holding our own id splits, so we know many nodes near us and a few far away. Pure: every
// call takes `nowMs`; the node does the pinging this table asks for.
//
// Node states (BEP 5): good = answered us within 15 minutes (or answered once and queried us within
// 15 minutes); questionable = quiet for 15 minutes; bad = failed to answer several queries in a row.
// A full bucket takes a new node only in place of a bad one; otherwise the newcomer waits in the
// bucket's replacement cache and the table names its least recently seen questionable node to ping.
// When that node turns bad, the newest replacement takes its place.

export const K = 8;
export const NODE_GOOD_MS = 15 * 60 * 1000;
export const BUCKET_REFRESH_MS = 15 * 60 * 1000;
/** Failed queries in a row after which a node is bad. */
export const BAD_AFTER_FAILURES = 2;
const ID_BITS = 160n;
const ID_SPACE = 1n << ID_BITS;

export interface Contact {
  id: Buffer;
  host: string;
  port: number;
}

export interface RoutingNode extends Contact {
  readonly num: bigint;
  lastResponseMs: number;
  lastQueryMs: number;
  failures: number;
}

export type NodeState = 'good' | 'questionable' | 'bad';

export type InsertResult =
  | { status: 'added' }
  | { status: 'updated' }
  | { status: 'replaced'; removed: RoutingNode }
  /** Bucket full of good or questionable nodes: the newcomer was cached; ping `ping` if given. */
  | { status: 'full'; ping?: RoutingNode }
  /** Our own id, or another live node's address. */
  | { status: 'rejected' };

interface Bucket {
  lo: bigint;
  hi: bigint; // exclusive
  nodes: RoutingNode[]; // least recently seen first
  replacements: Contact[]; // newest last
  lastChangedMs: number;
}

export function idToBigInt(id: Uint8Array): bigint {
  return id.length === 0 ? 0n : BigInt(`0x${Buffer.from(id).toString('hex')}`);
}

export function bigIntToId(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(40, '0'), 'hex');
}

/** XOR distance as a number, for sorting. */
export function distance(a: Uint8Array, b: Uint8Array): bigint {
  return idToBigInt(a) ^ idToBigInt(b);
}

export interface RoutingTableOptions {
  k?: number;
  goodMs?: number;
  badAfterFailures?: number;
}

export class RoutingTable {
  readonly selfId: Buffer;
  readonly k: number;
  readonly #self: bigint;
  readonly #goodMs: number;
  readonly #badAfter: number;
  #buckets: Bucket[];
  readonly #byId = new Map<string, RoutingNode>();
  readonly #byAddress = new Map<string, RoutingNode>();

  constructor(selfId: Buffer, nowMs: number, options: RoutingTableOptions = {}) {
    if (selfId.length !== 20) throw new RangeError('a node id has 20 bytes');
    this.selfId = Buffer.from(selfId);
    this.#self = idToBigInt(selfId);
    this.k = options.k ?? K;
    this.#goodMs = options.goodMs ?? NODE_GOOD_MS;
    this.#badAfter = options.badAfterFailures ?? BAD_AFTER_FAILURES;
    this.#buckets = [{ lo: 0n, hi: ID_SPACE, nodes: [], replacements: [], lastChangedMs: nowMs }];
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Ranges and fill of every bucket, in id order (for tests and diagnostics). */
  get buckets(): readonly { lo: bigint; hi: bigint; size: number; replacements: number }[] {
    return this.#buckets.map((b) => ({
      lo: b.lo,
      hi: b.hi,
      size: b.nodes.length,
      replacements: b.replacements.length,
    }));
  }

  get(id: Uint8Array): RoutingNode | undefined {
    return this.#byId.get(Buffer.from(id).toString('hex'));
  }

  stateOf(node: RoutingNode, nowMs: number): NodeState {
    if (node.failures >= this.#badAfter) return 'bad';
    if (nowMs - node.lastResponseMs < this.#goodMs || nowMs - node.lastQueryMs < this.#goodMs) return 'good';
    return 'questionable';
  }

  #bucketOf(num: bigint): Bucket {
    for (const b of this.#buckets) if (num >= b.lo && num < b.hi) return b;
    throw new Error('unreachable: buckets cover the id space');
  }

  /** A node answered one of our queries (the only way into the table: its address is proven). */
  insert(contact: Contact, nowMs: number): InsertResult {
    if (contact.id.length !== 20 || contact.id.equals(this.selfId)) return { status: 'rejected' };
    const hex = contact.id.toString('hex');
    const existing = this.#byId.get(hex);
    const addrKey = `${contact.host}|${contact.port}`;
    if (existing) {
      // Keep the address we verified first; an answer from elsewhere under the same id is suspect.
      if (existing.host !== contact.host || existing.port !== contact.port) {
        if (this.stateOf(existing, nowMs) !== 'bad') return { status: 'rejected' };
        this.#remove(existing);
        return this.insert(contact, nowMs);
      }
      existing.lastResponseMs = nowMs;
      existing.failures = 0;
      const b = this.#bucketOf(existing.num);
      b.nodes.splice(b.nodes.indexOf(existing), 1);
      b.nodes.push(existing);
      b.lastChangedMs = nowMs;
      return { status: 'updated' };
    }
    const other = this.#byAddress.get(addrKey);
    if (other) {
      if (this.stateOf(other, nowMs) !== 'bad') return { status: 'rejected' };
      this.#remove(other);
    }
    const num = idToBigInt(contact.id);
    const node: RoutingNode = {
      id: Buffer.from(contact.id),
      host: contact.host,
      port: contact.port,
      num,
      lastResponseMs: nowMs,
      lastQueryMs: Number.NEGATIVE_INFINITY,
      failures: 0,
    };
    for (;;) {
      const b = this.#bucketOf(num);
      if (b.nodes.length < this.k) {
        this.#add(b, node, nowMs);
        return { status: 'added' };
      }
      const bad = b.nodes.find((n) => this.stateOf(n, nowMs) === 'bad');
      if (bad) {
        this.#remove(bad);
        this.#add(b, node, nowMs);
        return { status: 'replaced', removed: bad };
      }
      if (this.#self >= b.lo && this.#self < b.hi && b.hi - b.lo > 1n) {
        this.#split(b);
        continue;
      }
      b.replacements = b.replacements.filter((c) => !c.id.equals(node.id));
      b.replacements.push({ id: node.id, host: node.host, port: node.port });
      if (b.replacements.length > this.k) b.replacements.shift();
      const ping = b.nodes.find((n) => this.stateOf(n, nowMs) === 'questionable');
      return ping ? { status: 'full', ping } : { status: 'full' };
    }
  }

  /** Whether an answer from this id would enter the table now (so pinging a stranger is worth it). */
  hasRoomFor(id: Uint8Array, nowMs: number): boolean {
    if (id.length !== 20 || this.selfId.equals(id) || this.get(id)) return false;
    const num = idToBigInt(id);
    const b = this.#bucketOf(num);
    if (b.nodes.length < this.k) return true;
    if (this.#self >= b.lo && this.#self < b.hi && b.hi - b.lo > 1n) return true;
    return b.nodes.some((n) => this.stateOf(n, nowMs) === 'bad');
  }

  #add(b: Bucket, node: RoutingNode, nowMs: number): void {
    b.nodes.push(node);
    b.replacements = b.replacements.filter((c) => !c.id.equals(node.id));
    b.lastChangedMs = nowMs;
    this.#byId.set(node.id.toString('hex'), node);
    this.#byAddress.set(`${node.host}|${node.port}`, node);
  }

  #split(b: Bucket): void {
    const mid = b.lo + (b.hi - b.lo) / 2n;
    const low: Bucket = { lo: b.lo, hi: mid, nodes: [], replacements: [], lastChangedMs: b.lastChangedMs };
    const high: Bucket = { lo: mid, hi: b.hi, nodes: [], replacements: [], lastChangedMs: b.lastChangedMs };
    for (const n of b.nodes) (n.num < mid ? low : high).nodes.push(n);
    for (const c of b.replacements) (idToBigInt(c.id) < mid ? low : high).replacements.push(c);
    const i = this.#buckets.indexOf(b);
    this.#buckets.splice(i, 1, low, high);
  }

  #remove(node: RoutingNode): void {
    const b = this.#bucketOf(node.num);
    const i = b.nodes.indexOf(node);
    if (i !== -1) b.nodes.splice(i, 1);
    this.#byId.delete(node.id.toString('hex'));
    if (this.#byAddress.get(`${node.host}|${node.port}`) === node)
      this.#byAddress.delete(`${node.host}|${node.port}`);
  }

  remove(id: Uint8Array): boolean {
    const node = this.get(id);
    if (!node) return false;
    this.#remove(node);
    return true;
  }

  /** A known node sent us a query: that keeps it good (BEP 5) as long as it has answered before. */
  noteQuery(id: Uint8Array, host: string, port: number, nowMs: number): void {
    const node = this.get(id);
    if (node && node.host === host && node.port === port) node.lastQueryMs = nowMs;
  }

  /**
   * A query to this node went unanswered. Once it is bad and its bucket has a replacement waiting, the
   * replacement takes its place (returned, so the caller can announce it).
   */
  markFailed(id: Uint8Array, nowMs: number): { removed?: RoutingNode; promoted?: Contact } {
    const node = this.get(id);
    if (!node) return {};
    node.failures++;
    if (this.stateOf(node, nowMs) !== 'bad') return {};
    const b = this.#bucketOf(node.num);
    const promoted = b.replacements.pop();
    if (!promoted) return {};
    this.#remove(node);
    const fresh: RoutingNode = {
      ...promoted,
      num: idToBigInt(promoted.id),
      // It answered when it was cached; leave it questionable so it gets pinged soon.
      lastResponseMs: nowMs - this.#goodMs,
      lastQueryMs: Number.NEGATIVE_INFINITY,
      failures: 0,
    };
    this.#add(b, fresh, nowMs);
    return { removed: node, promoted };
  }

  /** The `n` nodes closest to `target` by XOR distance, bad nodes left out; optionally one family. */
  closest(target: Uint8Array, n: number, family?: 4 | 6): RoutingNode[] {
    const t = idToBigInt(target);
    const out: { node: RoutingNode; d: bigint }[] = [];
    for (const node of this.#byId.values()) {
      if (node.failures >= this.#badAfter) continue;
      if (family !== undefined && node.host.includes(':') !== (family === 6)) continue;
      out.push({ node, d: node.num ^ t });
    }
    out.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
    return out.slice(0, n).map((e) => e.node);
  }

  all(): RoutingNode[] {
    return [...this.#byId.values()];
  }

  /** Nodes not heard from in 15 minutes, least recently seen first (to be pinged). */
  questionable(nowMs: number): RoutingNode[] {
    return this.all()
      .filter((n) => this.stateOf(n, nowMs) === 'questionable')
      .sort((a, b) => Math.max(a.lastResponseMs, a.lastQueryMs) - Math.max(b.lastResponseMs, b.lastQueryMs));
  }

  /** A lookup for a target in this range just ran: the bucket counts as refreshed. */
  touch(target: Uint8Array, nowMs: number): void {
    this.#bucketOf(idToBigInt(target)).lastChangedMs = nowMs;
  }

  /**
   * Buckets unchanged for `refreshMs`: one random target id inside each, to look up (BEP 5 refresh).
   * `random(20)` supplies the randomness.
   */
  refreshTargets(nowMs: number, random: (n: number) => Buffer, refreshMs = BUCKET_REFRESH_MS): Buffer[] {
    const out: Buffer[] = [];
    for (const b of this.#buckets) {
      if (nowMs - b.lastChangedMs < refreshMs) continue;
      out.push(bigIntToId(b.lo + (idToBigInt(random(20)) % (b.hi - b.lo))));
    }
    return out;
  }
}
