// A fixed-size bit set in the peer-wire layout: bit 0 is the high bit of byte 0.

export class Bitfield {
  readonly length: number;
  readonly buffer: Uint8Array;
  #count = 0;

  constructor(length: number, buffer?: Uint8Array) {
    this.length = length;
    const bytes = Math.ceil(length / 8);
    if (buffer) {
      if (buffer.length !== bytes)
        throw new RangeError(`bitfield needs ${bytes} bytes, got ${buffer.length}`);
      this.buffer = Uint8Array.from(buffer);
      for (let i = 0; i < bytes; i++) this.#count += popcount(this.buffer[i]!);
    } else {
      this.buffer = new Uint8Array(bytes);
    }
  }

  static full(length: number): Bitfield {
    const b = new Bitfield(length);
    b.setAll();
    return b;
  }

  get(i: number): boolean {
    if (i < 0 || i >= this.length) return false;
    return (this.buffer[i >> 3]! & (0x80 >> (i & 7))) !== 0;
  }

  set(i: number, value = true): void {
    if (i < 0 || i >= this.length) throw new RangeError(`bit ${i} out of range 0..${this.length - 1}`);
    const mask = 0x80 >> (i & 7);
    const byte = this.buffer[i >> 3]!;
    const had = (byte & mask) !== 0;
    if (value === had) return;
    this.buffer[i >> 3] = value ? byte | mask : byte & ~mask;
    this.#count += value ? 1 : -1;
  }

  setAll(): void {
    this.buffer.fill(0xff);
    const spare = this.buffer.length * 8 - this.length;
    if (spare > 0) this.buffer[this.buffer.length - 1] = (0xff << spare) & 0xff;
    this.#count = this.length;
  }

  /** Number of set bits. */
  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.length;
  }

  get empty(): boolean {
    return this.#count === 0;
  }

  /** True when the spare bits past `length` in the last byte are zero (peer-wire rule). */
  static spareBitsClear(length: number, bytes: Uint8Array): boolean {
    const spare = bytes.length * 8 - length;
    if (spare <= 0) return true;
    return (bytes[bytes.length - 1]! & ((1 << spare) - 1)) === 0;
  }

  clone(): Bitfield {
    return new Bitfield(this.length, this.buffer);
  }

  *indices(): IterableIterator<number> {
    for (let i = 0; i < this.length; i++) if (this.get(i)) yield i;
  }
}

function popcount(b: number): number {
  let n = b;
  n = n - ((n >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
}
