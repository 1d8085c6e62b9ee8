// What a tracker may be written as where users give one (`create -a`, the library's seed()): an
// http(s)/udp URL, or the `host:port` shorthand for the tracker inside the peer at that address.
// Its own small module so that `bitswarm create` checks its arguments before loading the codecs.

/** Whether `s` is an http(s)/udp URL or `host:port` (`[v6]:port`). */
export function isAnnounce(s: string): boolean {
  return /^(https?|udp):\/\/[^/\s]+/i.test(s) || /^(\[[0-9a-f:.]+\]|[^:/\s[\]]+):\d{1,5}$/i.test(s);
}
