// The one address module: `host:port` and `[v6]:port`, parsed and formatted the same way by every
// layer (issue 20, fault 5: IPv6 peers were saved as `2001:db8::1:6881`, which reads back as nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAddress, parseAddress, parseSavedAddress } from '../../../src/protocol/address.js';

test('parse: names, IPv4, bracketed IPv6; the rest is refused', () => {
  const table: [string, { host: string; port: number } | undefined][] = [
    ['127.0.0.1:6881', { host: '127.0.0.1', port: 6881 }],
    ['example.org:80', { host: 'example.org', port: 80 }],
    ['[::1]:6881', { host: '::1', port: 6881 }],
    ['[2001:db8::1]:51413', { host: '2001:db8::1', port: 51413 }],
    ['[::ffff:10.0.0.1]:1', { host: '::ffff:10.0.0.1', port: 1 }],
    ['2001:db8::1:6881', undefined], // ambiguous without brackets
    ['::1:6881', undefined],
    ['[::1]', undefined],
    ['[not:an:ip:x]:80', undefined],
    ['[1.2.3.4]:80', undefined],
    ['host:0', undefined],
    ['host:65536', undefined],
    ['host', undefined],
    [':6881', undefined],
    ['a b:1', undefined],
    ['', undefined],
  ];
  for (const [s, want] of table) assert.deepEqual(parseAddress(s), want, s);
  assert.deepEqual(parseAddress('127.0.0.1:0', { allowPortZero: true }), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseAddress('[::1]:0', { allowPortZero: true }), { host: '::1', port: 0 });
});

test('format then parse is the identity, for IPv4, IPv6 and names', () => {
  for (const a of [
    { host: '::1', port: 6881 },
    { host: '2001:db8::1', port: 6881 },
    { host: 'fe80::1:2:3:4', port: 65535 },
    { host: '10.0.0.1', port: 1 },
    { host: 'peer.example', port: 443 },
  ]) {
    const s = formatAddress(a);
    assert.deepEqual(parseAddress(s), a, s);
  }
  assert.equal(formatAddress({ host: '::1', port: 6881 }), '[::1]:6881');
  assert.equal(formatAddress({ host: '[::1]', port: 6881 }), '[::1]:6881');
  assert.equal(formatAddress({ host: '127.0.0.1', port: 6881 }), '127.0.0.1:6881');
});

test('records saved before brackets read back: the last group is the port', () => {
  assert.deepEqual(parseSavedAddress('2001:db8::1:6881'), { host: '2001:db8::1', port: 6881 });
  assert.deepEqual(parseSavedAddress('[::1]:6881'), { host: '::1', port: 6881 });
  assert.deepEqual(parseSavedAddress('127.0.0.1:6881'), { host: '127.0.0.1', port: 6881 });
  assert.equal(parseSavedAddress('garbage'), undefined);
});
