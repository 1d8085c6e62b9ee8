// The choker's decision: which peers we upload to. Pure — the caller passes the peers, the time and
// randomness, and keeps the returned state for the next round (typically every 10 s).
//
// Rules:
// - Leeching (tit-for-tat): the regular slots go to the interested peers that upload to us fastest.
//   Snubbed peers never get a regular slot. Ties (e.g. everyone at 0 B/s at start) favour the peers
//   already holding a slot (less churn), then those unchoked longest ago, then chance.
// - Seeding (round robin): each interested peer gets turns. A turn lasts seedTurnMs; a holder whose
//   turn has not run out keeps its slot; free slots go to the peers that were last unchoked (in a
//   regular or the optimistic slot) longest ago, never-unchoked first, and a holder whose turn ran
//   out goes behind everybody who is waiting. "Last unchoked" is the last decision that unchoked the
//   peer, kept in the state (the caller's lastUnchokedAtMs is only the fallback for unknown peers).
// - One optimistic slot on top, rotated every optimisticIntervalMs among interested peers without a
//   regular slot (snubbed ones too: it is how they get a second chance). The previous optimistic
//   peer is not chosen again if anyone else can be. Leeching, the choice is random, and a peer
//   connected less than newPeerMs ago and never unchoked is three times as likely to be chosen, so
//   newcomers soon get a first piece to trade with. Seeding, it is the next peer in the round robin
//   (last unchoked longest ago, never-unchoked first), which keeps everyone's share even.
// - Seeders are never unchoked: they want nothing from anyone.

export const DEFAULT_UNCHOKE_SLOTS = 4;
export const OPTIMISTIC_INTERVAL_MS = 30_000;
export const SNUB_AFTER_MS = 60_000;
export const SEED_TURN_MS = 30_000;
export const NEW_PEER_MS = 60_000;
const NEW_PEER_WEIGHT = 3;

export interface ChokerPeer {
  id: string;
  /** The peer is interested in us. */
  interested: boolean;
  /** Payload rate from the peer to us. */
  downloadRateBytesPerSec: number;
  /** Payload rate from us to the peer. */
  uploadRateBytesPerSec: number;
  snubbed: boolean;
  connectedAtMs: number;
  /** When we last sent this peer UNCHOKE (the start of its latest unchoked period); undefined: never. */
  lastUnchokedAtMs?: number;
  isSeed: boolean;
}

export interface ChokerState {
  optimistic?: string;
  optimisticSinceMs: number;
  /** Regular slot holders after the last decision, each with the time its current turn began. */
  regularSinceMs?: Readonly<Record<string, number>>;
  /** For each peer present at the last decision: the last decision time that left it unchoked. */
  lastServedMs?: Readonly<Record<string, number>>;
}

export interface ChokerOptions {
  /** Regular unchoke slots (default 4); the optimistic slot comes on top. */
  slots?: number;
  seeding: boolean;
  nowMs: number;
  random: () => number;
  optimisticIntervalMs?: number;
  /** Length of one regular turn while seeding. */
  seedTurnMs?: number;
  /** A peer connected less than this long ago and never unchoked is "new" (optimistic weight ×3). */
  newPeerMs?: number;
}

export interface ChokerDecision {
  /** Everyone in here is unchoked; everyone else is choked. */
  unchoke: Set<string>;
  /** The peers of `unchoke` holding regular slots (the rest is the optimistic one). */
  regular: string[];
  state: ChokerState;
}

export function decideUnchokes(
  peers: readonly ChokerPeer[],
  opts: ChokerOptions,
  state: ChokerState,
): ChokerDecision {
  const now = opts.nowMs;
  const slots = Math.max(0, Math.floor(opts.slots ?? DEFAULT_UNCHOKE_SLOTS));
  const interval = opts.optimisticIntervalMs ?? OPTIMISTIC_INTERVAL_MS;
  const prevSince = state.regularSinceMs ?? {};
  const seen = new Set<string>();
  const candidates: ChokerPeer[] = [];
  for (const p of peers) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    if (p.interested && !p.isSeed) candidates.push(p);
  }
  // One random key per peer, so chance breaks ties without an inconsistent comparator.
  const tie = new Map<string, number>();
  for (const p of candidates) tie.set(p.id, opts.random());
  const prevServed = state.lastServedMs ?? {};
  const isHolder = (p: ChokerPeer): boolean => Object.hasOwn(prevSince, p.id);
  const served = (p: ChokerPeer): number | undefined =>
    Object.hasOwn(prevServed, p.id) ? prevServed[p.id] : p.lastUnchokedAtMs;
  const lastUnchoked = (p: ChokerPeer): number => served(p) ?? Number.NEGATIVE_INFINITY;

  let regular: ChokerPeer[];
  if (!opts.seeding) {
    const pool = candidates.filter((p) => !p.snubbed);
    pool.sort(
      (a, b) =>
        b.downloadRateBytesPerSec - a.downloadRateBytesPerSec ||
        Number(isHolder(b)) - Number(isHolder(a)) ||
        compareNum(lastUnchoked(a), lastUnchoked(b)) ||
        tie.get(a.id)! - tie.get(b.id)!,
    );
    regular = pool.slice(0, slots);
  } else {
    const turnMs = opts.seedTurnMs ?? SEED_TURN_MS;
    const inTurn = (p: ChokerPeer): boolean => isHolder(p) && now - prevSince[p.id]! < turnMs;
    // Holders in their turn first (latest started first, should slots have shrunk), then those
    // waiting longest, then holders whose turn is over.
    const rank = (p: ChokerPeer): number => (inTurn(p) ? 0 : isHolder(p) ? 2 : 1);
    const ordered = [...candidates].sort(
      (a, b) =>
        rank(a) - rank(b) ||
        (rank(a) === 0 ? compareNum(prevSince[b.id]!, prevSince[a.id]!) : 0) ||
        (rank(a) === 2 ? compareNum(prevSince[a.id]!, prevSince[b.id]!) : 0) ||
        compareNum(lastUnchoked(a), lastUnchoked(b)) ||
        tie.get(a.id)! - tie.get(b.id)!,
    );
    regular = ordered.slice(0, slots);
  }

  const regularSinceMs: Record<string, number> = {};
  for (const p of regular) regularSinceMs[p.id] = isHolder(p) ? prevSince[p.id]! : now;
  const regularIds = new Set(regular.map((p) => p.id));

  const eligible = candidates.filter((p) => !regularIds.has(p.id));
  let optimistic: string | undefined;
  let optimisticSinceMs = state.optimisticSinceMs;
  const current =
    state.optimistic !== undefined ? eligible.find((p) => p.id === state.optimistic) : undefined;
  if (current && now - state.optimisticSinceMs < interval) {
    optimistic = current.id;
  } else {
    const others = eligible.filter((p) => p.id !== state.optimistic);
    const pool = others.length > 0 ? others : eligible;
    const newPeerMs = opts.newPeerMs ?? NEW_PEER_MS;
    const weight = (p: ChokerPeer): number =>
      served(p) === undefined && now - p.connectedAtMs < newPeerMs ? NEW_PEER_WEIGHT : 1;
    optimistic = opts.seeding
      ? pool.reduce<ChokerPeer | undefined>(
          (best, p) =>
            best === undefined ||
            compareNum(lastUnchoked(p), lastUnchoked(best)) < 0 ||
            (lastUnchoked(p) === lastUnchoked(best) && tie.get(p.id)! < tie.get(best.id)!)
              ? p
              : best,
          undefined,
        )?.id
      : weightedPick(pool, weight, opts.random)?.id;
    optimisticSinceMs = now;
  }

  const unchoke = new Set(regularIds);
  if (optimistic !== undefined) unchoke.add(optimistic);
  const lastServedMs: Record<string, number> = {};
  for (const id of seen) {
    if (unchoke.has(id)) lastServedMs[id] = now;
    else if (Object.hasOwn(prevServed, id)) lastServedMs[id] = prevServed[id]!;
  }
  const next: ChokerState = { optimisticSinceMs, regularSinceMs, lastServedMs };
  if (optimistic !== undefined) next.optimistic = optimistic;
  return { unchoke, regular: regular.map((p) => p.id), state: next };
}

/** Rate-based slots: the rate the fastest peer must reach to count, and the rise per further peer. */
export const RATE_SLOTS_THRESHOLD = 1024;
export const RATE_SLOTS_STEP = 2048;
/** Rate-based slots never exceed this many. */
export const RATE_SLOTS_MAX = 50;

/**
 * Upload slots sized to the uplink, learned from the rates we reach (upload rate discovery: no
 * setting). A slot is worth having while its peer gets enough of the uplink to complete pieces and
 * trade them: with s slots, each must carry at least RATE_SLOTS_THRESHOLD + (s−1)·RATE_SLOTS_STEP.
 * Two readings of that rule, the larger wins:
 * - per peer: with our upload rates to the peers of the last round sorted fastest first, the k-th
 *   (from 0) counts when it got at least RATE_SLOTS_THRESHOLD + k·RATE_SLOTS_STEP; those peers plus
 *   one, to probe for more (libtorrent's rate-based choker). Peers that take less than their share
 *   (a slow link at their end) leave room for more slots.
 * - from the uplink's capacity (`capacityBytesPerSec`, the caller's estimate: the highest total
 *   upload rate reached lately): the most slots s such that capacity/s still meets the rule. So a
 *   fast uplink opens its slots at once, not one per round.
 * On a full uplink of capacity C both settle near √(C/step) (5 MB/s: about 50; 100 kB/s: about 7).
 * Clamped to [min, max] (at the start nothing is known: min).
 */
export function rateBasedSlots(
  uploadRates: readonly number[],
  min: number,
  capacityBytesPerSec = 0,
  max = RATE_SLOTS_MAX,
): number {
  const sorted = uploadRates.filter((r) => r > 0).sort((a, b) => b - a);
  let threshold = RATE_SLOTS_THRESHOLD;
  let perPeer = 0;
  for (const r of sorted) {
    if (r < threshold) break;
    perPeer++;
    threshold += RATE_SLOTS_STEP;
  }
  let fromCapacity = 0;
  while (
    fromCapacity < max &&
    capacityBytesPerSec / (fromCapacity + 1) >= RATE_SLOTS_THRESHOLD + fromCapacity * RATE_SLOTS_STEP
  )
    fromCapacity++;
  return Math.max(min, Math.min(max, Math.max(perPeer + 1, fromCapacity)));
}

/**
 * A peer is snubbed when it sent no block for snubAfterMs while we were interested and it had us
 * unchoked. The caller passes the later of its last block and the moment that condition began;
 * undefined (no reference time) is never snubbed.
 */
export function isSnubbed(
  lastBlockAtMs: number | undefined,
  nowMs: number,
  snubAfterMs = SNUB_AFTER_MS,
): boolean {
  return lastBlockAtMs !== undefined && nowMs - lastBlockAtMs >= snubAfterMs;
}

function compareNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function weightedPick<T>(items: readonly T[], weight: (t: T) => number, random: () => number): T | undefined {
  let total = 0;
  for (const t of items) total += weight(t);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const t of items) {
    r -= weight(t);
    if (r < 0) return t;
  }
  return items[items.length - 1];
}
