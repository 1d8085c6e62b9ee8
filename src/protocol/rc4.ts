// RC4, the stream cipher of Message Stream Encryption (mse.ts). OpenSSL 3 in Node 20 no longer
// offers it, so it is written here. Large inputs run in a small WebAssembly module assembled below
// from hand-written instructions (about 1.35× the speed of the same loop in JavaScript: it makes four
// keystream bytes and XORs them as one 32-bit word); small ones in JavaScript. Both keep the cipher
// state (S, i, j) in one 258-byte array per cipher, so any number of ciphers share one module.
//
// The module is compiled once, on first use, and owns a scratch memory that every cipher borrows
// during a call (single-threaded: a call runs to its end before the next).

/** Inputs shorter than this are processed in JavaScript (copying into the module costs more). */
const WASM_MIN_BYTES = 512;
/** Scratch data area of the module: where input is copied, processed and copied back from. */
const SCRATCH_AT = 1024;
const SCRATCH_BYTES = 1024 * 1024;

export class Rc4 {
  /** S[0..255], then i at 256 and j at 257: the layout the module works on. */
  readonly #state = new Uint8Array(258);

  constructor(key: Uint8Array) {
    if (key.length === 0 || key.length > 256) throw new RangeError('RC4 key must be 1..256 bytes');
    const s = this.#state;
    for (let i = 0; i < 256; i++) s[i] = i;
    let j = 0;
    for (let i = 0; i < 256; i++) {
      const si = s[i]!;
      j = (j + si + key[i % key.length]!) & 255;
      s[i] = s[j]!;
      s[j] = si;
    }
  }

  /** Drops `n` bytes of keystream (MSE discards the first 1024). */
  discard(n: number): void {
    this.process(new Uint8Array(n));
  }

  /** XORs `data` with the next keystream bytes, in place. */
  process(data: Uint8Array): void {
    this.processInto(data, data);
  }

  /** Writes `src` XOR keystream into `dst` (same length; may be the same bytes). */
  processInto(src: Uint8Array, dst: Uint8Array): void {
    if (dst.length < src.length) throw new RangeError('RC4 output is shorter than its input');
    if (src.length < WASM_MIN_BYTES) {
      jsProcess(this.#state, src, dst);
      return;
    }
    const m = wasm();
    const mem = m.memory;
    mem.set(this.#state, 0);
    for (let at = 0; at < src.length; at += SCRATCH_BYTES) {
      const n = Math.min(SCRATCH_BYTES, src.length - at);
      mem.set(src.subarray(at, at + n), SCRATCH_AT);
      m.xor(SCRATCH_AT, n);
      dst.set(mem.subarray(SCRATCH_AT, SCRATCH_AT + n), at);
    }
    this.#state.set(mem.subarray(0, 258));
  }
}

function jsProcess(st: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  let i = st[256]!;
  let j = st[257]!;
  for (let k = 0; k < src.length; k++) {
    i = (i + 1) & 255;
    const si = st[i]!;
    j = (j + si) & 255;
    const sj = st[j]!;
    st[i] = sj;
    st[j] = si;
    dst[k] = src[k]! ^ st[(si + sj) & 255]!;
  }
  st[256] = i;
  st[257] = j;
}

interface Rc4Module {
  memory: Uint8Array;
  xor: (at: number, length: number) => void;
}
let compiled: Rc4Module | undefined;

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

function wasm(): Rc4Module {
  if (compiled) return compiled;
  const pages = Math.ceil((SCRATCH_AT + SCRATCH_BYTES) / 65536);
  // Node's WebAssembly global, typed here (the project's type libraries do not declare it).
  const wa = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const instance = new wa.Instance(new wa.Module(rc4WasmBytes(pages)), {});
  const exports = instance.exports as {
    mem: { buffer: ArrayBuffer };
    xor: (at: number, length: number) => void;
  };
  compiled = { memory: new Uint8Array(exports.mem.buffer), xor: exports.xor };
  return compiled;
}

// ---- the module, assembled -------------------------------------------------------------------
// In text form (one exported function, one exported memory of `pages` pages; S at 0, i at 256,
// j at 257):
//   (func (export "xor") (param $p i32) (param $n i32)
//     (local $i i32) (local $j i32) (local $si i32) (local $sj i32) (local $end i32) (local $w i32)
//     i = S[256]; j = S[257]; end = p + n
//     block loop                          ;; four bytes per turn
//       br_if 1 (p + 4 > end)
//       w = k() | k() << 8 | k() << 16 | k() << 24
//       store32(p, load32(p) ^ w); p += 4; br 0
//     end end
//     block loop                          ;; the last 0..3 bytes
//       br_if 1 (p >= end)
//       store8(p, load8(p) ^ k()); p += 1; br 0
//     end end
//     S[256] = i; S[257] = j)
// where k() is one RC4 step: i = (i+1)&255; si = S[i]; j = (j+si)&255; sj = S[j];
// S[i] = sj; S[j] = si; → S[(si+sj)&255].

const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  void: 0x40,
  get: 0x20,
  set: 0x21,
  i32: 0x7f,
  const: 0x41,
  load: 0x28,
  load8: 0x2d,
  store: 0x36,
  store8: 0x3a,
  geU: 0x4f,
  gtU: 0x4b,
  add: 0x6a,
  and: 0x71,
  or: 0x72,
  xor: 0x73,
  shl: 0x74,
} as const;
// Locals: the two parameters, then six i32 locals.
const P = 0;
const N = 1;
const I = 2;
const J = 3;
const SI = 4;
const SJ = 5;
const END = 6;
const W = 7;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 127;
    n >>>= 7;
    if (n !== 0) b |= 128;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 127;
    n >>= 7;
    if ((n === 0 && (b & 64) === 0) || (n === -1 && (b & 64) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 128);
  }
}

const get = (l: number): number[] => [OP.get, l];
const set = (l: number): number[] => [OP.set, l];
const konst = (v: number): number[] => [OP.const, ...sleb(v)];
const mask = [...konst(255), OP.and];
const load8 = [OP.load8, 0, 0];
const store8 = [OP.store8, 0, 0];

/** One RC4 step; leaves the keystream byte on the stack. */
function step(): number[] {
  // biome-ignore format: one line per RC4 statement
  return [
    ...get(I), ...konst(1), OP.add, ...mask, ...set(I),
    ...get(I), ...load8, ...set(SI),
    ...get(J), ...get(SI), OP.add, ...mask, ...set(J),
    ...get(J), ...load8, ...set(SJ),
    ...get(I), ...get(SJ), ...store8,
    ...get(J), ...get(SI), ...store8,
    ...get(SI), ...get(SJ), OP.add, ...mask, ...load8,
  ];
}

function body(): number[] {
  // biome-ignore format: one line per statement of the text form above
  return [
    ...konst(256), ...load8, ...set(I),
    ...konst(257), ...load8, ...set(J),
    ...get(P), ...get(N), OP.add, ...set(END),
    OP.block, OP.void, OP.loop, OP.void,
    ...get(P), ...konst(4), OP.add, ...get(END), OP.gtU, OP.brIf, 1,
    ...step(),
    ...step(), ...konst(8), OP.shl, OP.or,
    ...step(), ...konst(16), OP.shl, OP.or,
    ...step(), ...konst(24), OP.shl, OP.or, ...set(W),
    ...get(P), ...get(P), OP.load, 0, 0, ...get(W), OP.xor, OP.store, 0, 0,
    ...get(P), ...konst(4), OP.add, ...set(P),
    OP.br, 0, OP.end, OP.end,
    OP.block, OP.void, OP.loop, OP.void,
    ...get(P), ...get(END), OP.geU, OP.brIf, 1,
    ...get(P), ...get(P), ...load8, ...step(), OP.xor, ...store8,
    ...get(P), ...konst(1), OP.add, ...set(P),
    OP.br, 0, OP.end, OP.end,
    ...konst(256), ...get(I), ...store8,
    ...konst(257), ...get(J), ...store8,
    OP.end,
  ];
}

/** The module's bytes (binary format 1): exported function `xor` and memory `mem` of `pages` pages. */
export function rc4WasmBytes(pages: number): Uint8Array {
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const code = [...vec([[6, OP.i32]]), ...body()];
  // biome-ignore format: one line per section
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[OP.i32], [OP.i32]]), 0]])), // type: (i32, i32) → ()
    ...section(3, vec([[0]])), // function 0 has type 0
    ...section(5, vec([[0x00, ...uleb(pages)]])), // memory: min `pages`, no max
    ...section(7, vec([[...name('xor'), 0x00, 0], [...name('mem'), 0x02, 0]])), // exports
    ...section(10, vec([[...uleb(code.length), ...code]])), // code
  ]);
}
