// Fuzz target: magnet links. Any text gives a Magnet or a MagnetError; a parsed magnet formats to a
// link that parses back to the same magnet.

import { MagnetError } from '../../../src/protocol/errors.js';
import { formatMagnet, parseMagnet } from '../../../src/protocol/magnet.js';
import { same, typedOnly } from '../contract.js';

export const dictionary = [
  'magnet:?',
  'xt=urn:btih:',
  'xt=urn:btmh:',
  '&',
  'dn=',
  'tr=',
  'tr=udp://127.0.0.1:6969',
  'tr=http://127.0.0.1/announce',
  'ws=',
  'x.pe=',
  'x.pe=127.0.0.1:6881',
  'x.pe=[::1]:6881',
  'so=',
  '0-3,7',
  '%',
  '%20',
  '+',
  '0123456789abcdef0123456789abcdef01234567',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
];

export function seeds(): Uint8Array[] {
  const hex = '0123456789abcdef0123456789abcdef01234567';
  return [
    `magnet:?xt=urn:btih:${hex}`,
    `magnet:?xt=urn:btih:${hex}&dn=a%20name&tr=udp%3A%2F%2F127.0.0.1%3A6969&x.pe=127.0.0.1:6881&so=0,2-4`,
    'magnet:?xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU&ws=http%3A%2F%2F127.0.0.1%2Ff',
    `MAGNET:?xt=urn:btmh:1220${hex}${hex.slice(0, 24)}&xt=urn:btih:${hex}`,
  ].map((s) => Buffer.from(s));
}

export function fuzz(data: Buffer): void {
  const m = typedOnly('parseMagnet', [MagnetError], () => parseMagnet(data.toString('utf8')));
  if (m === undefined) return;
  const link = formatMagnet({
    infoHash: m.infoHash,
    infoHashV2: m.infoHashV2,
    // a btmh alone names its torrent by the btmh's first 20 bytes: no btih to write back
    v2Only: m.infoHashV2?.subarray(0, 20).equals(m.infoHash) === true,
    name: m.name,
    trackers: m.trackers,
    peers: m.peers,
    webSeeds: m.webSeeds,
    ...(m.selectOnly ? { selectOnly: m.selectOnly } : {}),
  });
  const again = parseMagnet(link);
  const { warnings: _w1, ...a } = m;
  const { warnings: _w2, ...b } = again;
  same(b, a, `parseMagnet(formatMagnet(m)) != m for ${link}`);
}
