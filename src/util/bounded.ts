// A Map kept as a bounded record of the most recent entries: insertion order is age, so the first
// key is the oldest. Pure.

/** Sets `key` as the newest entry of `map`; past `max` entries the oldest go. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}
