// The queue decision, as a pure function: given every torrent of the manager (whether it runs,
// whether it waits in the queue, whether it is complete) and the limits, which queued torrents start
// now. Downloads and seeds have their own slots; torrents start in queue order (the order they were
// added, unless the user moved them); one
// whose start is in flight takes its slot already (or a burst of adds would overfill the slots).

export interface QueueItem {
  readonly id: string;
  /** Its place in the queue: lower starts first (the add time, unless the user moved it). */
  readonly order: number;
  /** Running, or its start (or a metadata fetch, a move, a check) in flight: holds a slot. */
  readonly active: boolean;
  /** Waiting in the queue for a slot (not paused, not in error). */
  readonly queued: boolean;
  /** Has every piece (a seed's slot), or is still downloading (a download's slot). */
  readonly complete: boolean;
}

export interface QueueLimits {
  readonly maxActiveDownloads: number;
  readonly maxActiveSeeds: number;
}

/** The ids of the queued torrents to start now, first in the queue first. */
export function torrentsToStart(items: readonly QueueItem[], limits: QueueLimits): string[] {
  const byAge = [...items].sort((a, b) => a.order - b.order);
  let downloads = 0;
  let seeds = 0;
  for (const i of byAge) {
    if (!i.active) continue;
    if (i.complete) seeds++;
    else downloads++;
  }
  const start: string[] = [];
  for (const i of byAge) {
    if (!i.queued || i.active) continue;
    if (i.complete ? seeds >= limits.maxActiveSeeds : downloads >= limits.maxActiveDownloads) continue;
    if (i.complete) seeds++;
    else downloads++;
    start.push(i.id);
  }
  return start;
}
