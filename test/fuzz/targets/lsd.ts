// Fuzz target: Local Service Discovery announces (BEP 14). Any datagram gives an announce or an
// LsdError; an announce formats to a packet that parses to the same announce.

import { formatLsdAnnounce, LsdError, parseLsdAnnounce } from '../../../src/protocol/lsd.js';
import { same, typedOnly } from '../contract.js';

export const dictionary = [
  'BT-SEARCH * HTTP/1.1\r\n',
  'Host: 239.192.152.143:6771\r\n',
  'Host: [ff15::efc0:988f]:6771\r\n',
  'Port: 6881\r\n',
  'Infohash: ',
  '0123456789abcdef0123456789abcdef01234567',
  'cookie: ',
  '\r\n',
  '\r\n\r\n',
  ': ',
];

export function seeds(): Uint8Array[] {
  const hash = Buffer.alloc(20, 0xab);
  return [
    formatLsdAnnounce({ port: 6881, infoHashes: [hash] }),
    formatLsdAnnounce({ port: 1, infoHashes: [hash, Buffer.alloc(20, 1)], cookie: 'c00kie', ipv6: true }),
  ];
}

export function fuzz(data: Buffer): void {
  const a = typedOnly('parseLsdAnnounce', [LsdError], () => parseLsdAnnounce(data));
  if (a === undefined || a.infoHashes.length === 0) return;
  const again = parseLsdAnnounce(
    formatLsdAnnounce({
      port: a.port,
      infoHashes: a.infoHashes,
      ...(a.cookie !== undefined ? { cookie: a.cookie } : {}),
    }),
  );
  const { host: _h1, ...got } = again;
  const { host: _h2, ...want } = a;
  same(got, want, 'LSD announce changes through format and parse');
}
