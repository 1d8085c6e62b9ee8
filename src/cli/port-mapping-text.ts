// How the CLI says what the router's port mapping did (progress lines and `show`). Types only from
// the port mapper, so that `show` does not load the session's modules.
import type { PortMapping, PortMapStatus } from '../discovery/port-mapper.js';

const METHOD_NAME = { upnp: 'UPnP', natpmp: 'NAT-PMP', pcp: 'PCP' } as const;

/** "port forwarded by UPnP (router 10.0.0.1): reachable at <external address>:6881 (TCP and UDP)". */
export function portMappingLine(m: PortMapping): string {
  return `port forwarded by ${METHOD_NAME[m.method]} (router ${m.gateway}): reachable at ${m.externalIp}:${m.externalPort} (${m.udp ? 'TCP and UDP' : 'TCP only'})`;
}

/** One line for `show`: the mapping, or why there is none. */
export function portMappingStatusText(
  s: (Omit<PortMapStatus, 'mapping'> & { mapping?: PortMapStatus['mapping'] }) | null | undefined,
): string {
  if (!s) return 'off (--no-upnp --no-natpmp, or bound to loopback)';
  if (s.mapping) return portMappingLine(s.mapping);
  if (s.pending) return 'asking the router…';
  return s.failures.length
    ? `not forwarded: ${s.failures.map((f) => `${f.method === 'upnp' ? 'UPnP' : 'NAT-PMP/PCP'}: ${f.message}`).join('; ')}`
    : 'not forwarded';
}
