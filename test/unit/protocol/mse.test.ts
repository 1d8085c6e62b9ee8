// RC4 (known vectors, the WebAssembly path against the JavaScript one) and the MSE handshake state
// machines: both methods, every split of the byte stream, and each hostile input closing with its
// typed reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  CryptoMethod,
  DH_KEY_BYTES,
  MSE_PRIME,
  type MseHandshake,
  MseInitiator,
  MseResponder,
  type MseResult,
  publicKey,
  req2Hash,
  sha1,
  streamKind,
} from '../../../src/protocol/mse.js';
import { ProtocolError } from '../../../src/protocol/peer-wire.js';
import { Rc4 } from '../../../src/protocol/rc4.js';

test('RC4 known vectors', () => {
  const vectors: [string, string, string][] = [
    ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
    ['Wiki', 'pedia', '1021bf0420'],
    ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5'],
  ];
  for (const [key, plain, hex] of vectors) {
    const data = Buffer.from(plain);
    new Rc4(Buffer.from(key)).process(data);
    assert.equal(data.toString('hex'), hex);
  }
});

test('RC4: the WebAssembly path (large inputs) gives the JavaScript path’s bytes, across calls', () => {
  const key = randomBytes(20);
  const data = randomBytes(3 * 1024 * 1024 + 7);
  const big = Buffer.from(data);
  const a = new Rc4(key);
  a.process(big.subarray(0, 1000)); // wasm
  a.process(big.subarray(1000, 1100)); // js
  a.process(big.subarray(1100)); // wasm, more than one scratch area
  const small = Buffer.from(data);
  const b = new Rc4(key);
  for (let at = 0; at < small.length; at += 300) b.process(small.subarray(at, at + 300));
  assert.ok(big.equals(small));
  const out = Buffer.alloc(data.length);
  new Rc4(key).processInto(data, out);
  assert.ok(out.equals(big), 'processInto leaves the input alone and writes the same bytes');
});

const infoHash = sha1('some torrent');
const other = sha1('another torrent');
const lookup = (req2: Uint8Array): Uint8Array | undefined =>
  [infoHash, other].find((ih) => req2Hash(ih).equals(req2));

function pair(o: {
  provide?: number;
  allow?: number;
  prefer?: 'rc4' | 'plaintext';
  padA?: number;
  padB?: number;
  ia?: Uint8Array;
  skey?: Uint8Array;
}): { a: MseInitiator; b: MseResponder } {
  return {
    a: new MseInitiator({
      infoHash: o.skey ?? infoHash,
      provide: o.provide ?? CryptoMethod.rc4 | CryptoMethod.plaintext,
      privateKey: randomBytes(20),
      padA: randomBytes(o.padA ?? 100),
      ...(o.ia ? { initialPayload: o.ia } : {}),
    }),
    b: new MseResponder({
      findInfoHash: lookup,
      allow: o.allow ?? CryptoMethod.rc4 | CryptoMethod.plaintext,
      prefer: o.prefer ?? 'rc4',
      privateKey: randomBytes(20),
      padB: randomBytes(o.padB ?? 200),
    }),
  };
}

/** Runs both machines against each other, cutting every message into pieces of `cut` bytes. */
function run(a: MseHandshake, b: MseHandshake, cut: number, extraFromB?: Uint8Array): [MseResult, MseResult] {
  let ra: MseResult | undefined;
  let rb: MseResult | undefined;
  const toB: Uint8Array[] = [a.start()!];
  let toA: Uint8Array[] = [];
  for (let rounds = 0; rounds < 20 && !(ra && rb); rounds++) {
    for (const msg of toB.splice(0)) {
      for (let at = 0; at < msg.length && !rb; at += cut) {
        const step = b.push(msg.subarray(at, at + cut));
        let send = step.send;
        if (step.done) {
          rb = step.done;
          // B's payload stream starts right after its last handshake bytes, in the same write.
          if (extraFromB) {
            const x = Buffer.from(extraFromB);
            rb.encrypt?.process(x);
            send = Buffer.concat([send ?? new Uint8Array(0), x]);
          }
        }
        if (send) toA.push(send);
      }
    }
    for (const msg of toA.splice(0)) {
      for (let at = 0; at < msg.length; at += cut) {
        const piece = msg.subarray(at, at + cut);
        if (ra) {
          // After the handshake: the payload stream, as the connection would decrypt it.
          const x = Buffer.from(piece);
          ra.decrypt?.process(x);
          ra.payload = Buffer.concat([ra.payload, x]);
          continue;
        }
        const step = a.push(piece);
        if (step.send) toB.push(step.send);
        if (step.done) ra = step.done;
      }
    }
    toA = toA.filter((m) => m.length > 0);
  }
  assert.ok(ra && rb, 'both sides finished');
  return [ra, rb];
}

test('MSE: RC4 both ways, IA carries the first payload, any split of the stream', () => {
  const ia = Buffer.from('\x13BitTorrent protocol and more');
  for (const cut of [1, 7, 96, 500, 100_000]) {
    const { a, b } = pair({ ia, padA: cut % 513, padB: 512 });
    const [ra, rb] = run(a, b, cut, Buffer.from('answer'));
    assert.equal(ra.method, 'rc4');
    assert.equal(rb.method, 'rc4');
    assert.ok(Buffer.from(rb.infoHash).equals(infoHash));
    assert.ok(Buffer.from(rb.payload).equals(ia), 'B decrypted IA');
    assert.equal(Buffer.from(ra.payload).toString(), 'answer');
    // The payload streams go on with the same ciphers.
    const msg = Buffer.from('hello from A');
    ra.encrypt!.process(msg);
    rb.decrypt!.process(msg);
    assert.equal(msg.toString(), 'hello from A');
  }
});

test('MSE: the responder picks plaintext when told to prefer it, and A follows', () => {
  const { a, b } = pair({ prefer: 'plaintext', ia: Buffer.from('ia') });
  const [ra, rb] = run(a, b, 33, Buffer.from('plain after'));
  assert.equal(rb.method, 'plaintext');
  assert.equal(ra.method, 'plaintext');
  assert.equal(ra.encrypt, undefined);
  assert.equal(Buffer.from(rb.payload).toString(), 'ia', 'IA is RC4 whatever the method');
  assert.equal(Buffer.from(ra.payload).toString(), 'plain after');
});

test('MSE: a responder that requires RC4 refuses a plaintext-only offer', () => {
  const { a, b } = pair({ provide: CryptoMethod.plaintext, allow: CryptoMethod.rc4 });
  assert.throws(
    () => run(a, b, 1000),
    (e: unknown) => e instanceof ProtocolError && e.reason === 'encryption-no-common-method',
  );
});

function feedB(b: MseResponder, bytes: Uint8Array): void {
  b.push(bytes);
}

function reason(reasonName: string) {
  return (e: unknown) => e instanceof ProtocolError && e.reason === reasonName;
}

test('MSE hostile: a key that is no key (0, 1, P−1, ≥ P)', () => {
  const bad = [
    Buffer.alloc(DH_KEY_BYTES),
    Buffer.concat([Buffer.alloc(DH_KEY_BYTES - 1), Buffer.from([1])]),
    Buffer.from((MSE_PRIME - 1n).toString(16), 'hex'),
    Buffer.alloc(DH_KEY_BYTES, 0xff),
  ];
  for (const key of bad) {
    assert.throws(() => feedB(pair({}).b, key), reason('encryption-bad-key'));
    const { a } = pair({});
    a.start();
    assert.throws(() => a.push(key), reason('encryption-bad-key'));
  }
});

test('MSE hostile: garbage instead of the DH key, then no req1 within 512 bytes', () => {
  const { b } = pair({});
  b.push(randomBytes(DH_KEY_BYTES)); // a number below P: accepted as a key
  b.push(randomBytes(400));
  assert.throws(() => b.push(randomBytes(200)), reason('encryption-no-sync'));
});

test('MSE hostile: the verification constant never comes (no ENCRYPT(VC) within 512 bytes of Yb)', () => {
  const { a } = pair({});
  a.start();
  const yb = publicKey(randomBytes(20));
  a.push(yb);
  assert.throws(() => a.push(randomBytes(600)), reason('encryption-no-sync'));
});

test('MSE hostile: padding over 512 bytes (PadA is searched past; PadC and PadD lengths are checked)', () => {
  // PadA of 600 bytes: req1 is not where it may be.
  const { a, b } = pair({ padA: 0 });
  const hello = Buffer.from(a.start());
  b.push(hello);
  assert.throws(() => b.push(randomBytes(600)), reason('encryption-no-sync'));
  // A crafted message 3 declaring PadC of 513 bytes.
  const x = pair({ padA: 0 });
  const y = pair({ padA: 0 });
  const ya = Buffer.from(x.a.start());
  const step = y.b.push(ya); // B answers with Yb
  const msg3 = x.a.push(step.send!.subarray(0, DH_KEY_BYTES)).send!;
  // Decrypt A's head, set len(PadC) = 513, encrypt again with the same keystream.
  const head = Buffer.from(msg3.subarray(40, 40 + 14));
  const ks = Buffer.alloc(14);
  for (let i = 0; i < 14; i++) ks[i] = head[i]! ^ [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0][i]!;
  const forged = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 1]);
  for (let i = 0; i < 14; i++) forged[i]! ^= ks[i]!;
  assert.throws(
    () => y.b.push(Buffer.concat([msg3.subarray(0, 40), forged])),
    reason('encryption-bad-padding'),
  );
});

test('MSE hostile: a wrong req2 xor req3 (a torrent we do not serve)', () => {
  const { a, b } = pair({ skey: sha1('not ours') });
  assert.throws(() => run(a, b, 64), reason('encryption-unknown-torrent'));
});

test('MSE: random bytes in any cut only ever throw ProtocolErrors', () => {
  for (let i = 0; i < 200; i++) {
    const { a, b } = pair({});
    a.start();
    for (const m of [a, b]) {
      try {
        const data = randomBytes(1 + ((i * 37) % 2000));
        for (let at = 0; at < data.length; at += 1 + (i % 300)) m.push(data.subarray(at, at + 1 + (i % 300)));
      } catch (err) {
        assert.ok(err instanceof ProtocolError, String(err));
      }
    }
  }
});

test('streamKind tells the plaintext protocol, HTTP and MSE apart', () => {
  assert.equal(streamKind(Buffer.from('\x13BitTorrent protocol')), 'peer');
  assert.equal(streamKind(Buffer.from('\x13BitTorr')), undefined);
  assert.equal(
    streamKind(Buffer.from('\x13Bxx')),
    'peer',
    'a broken handshake is the plaintext reader’s to refuse',
  );
  assert.equal(streamKind(Buffer.from('\x13xx')), 'mse');
  assert.equal(streamKind(Buffer.from('GET /announce')), 'http');
  assert.equal(streamKind(Buffer.from('GE')), undefined);
  assert.equal(streamKind(Buffer.from('GEX')), 'http');
  assert.equal(streamKind(Buffer.from('GX')), 'mse');
  assert.equal(streamKind(Buffer.from([0x80, 1, 2])), 'mse');
  assert.equal(streamKind(Buffer.alloc(0)), undefined);
});
