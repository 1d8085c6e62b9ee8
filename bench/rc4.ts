// Micro-benchmark of RC4 (src/protocol/rc4.ts), the cipher of protocol encryption: MB/s of the
// WebAssembly path (inputs of 512 bytes and more: a shared 1 MiB socket read, a 16 KiB block) and
// of the JavaScript path (what small messages take), over BENCH_RC4_MB MiB (default 256). The
// reference in the same run is node:crypto's AES-128-CTR, a stream cipher OpenSSL runs with AES-NI.
// What it tells: an encrypted 1 GiB download costs about 1024 / (MB/s at 1 MiB) seconds of CPU
// more than a plaintext one, on the leecher (decrypt) and on the seeder (encrypt).
import { createCipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Rc4 } from '../src/protocol/rc4.js';

const MIB = 1024 * 1024;
const totalMiB = Number(process.env.BENCH_RC4_MB ?? 256);
if (!Number.isInteger(totalMiB) || totalMiB < 1) throw new Error(`BENCH_RC4_MB: ${totalMiB} is not a size`);

function rate(label: string, chunkBytes: number, run: (chunk: Buffer) => void): number {
  const chunk = randomBytes(chunkBytes);
  const rounds = Math.max(1, Math.floor((totalMiB * MIB) / chunkBytes));
  for (let i = 0; i < Math.min(rounds, 64); i++) run(chunk); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) run(chunk);
  const s = (performance.now() - t0) / 1000;
  const mbps = (rounds * chunkBytes) / 1e6 / s;
  process.stdout.write(`  ${label.padEnd(34)} ${mbps.toFixed(0).padStart(6)} MB/s\n`);
  return mbps;
}

process.stdout.write(`bench:rc4 — ${totalMiB} MiB per line, node ${process.version}\n`);
const key = randomBytes(20);
const rc4 = new Rc4(key);
const big = rate('RC4, 1 MiB chunks (wasm)', MIB, (c) => rc4.process(c));
rate('RC4, 16 KiB chunks (wasm)', 16 * 1024, (c) => rc4.process(c));
const out = Buffer.alloc(16 * 1024 + 13);
rate('RC4, 16 KiB copied out (wasm)', 16 * 1024, (c) => rc4.processInto(c, out));
rate('RC4, 256-byte chunks (JavaScript)', 256, (c) => rc4.process(c));
const aes = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
const ref = rate('reference: AES-128-CTR, 1 MiB chunks', MIB, (c) => {
  aes.update(c);
});
process.stdout.write(
  `RC4 / AES-128-CTR ${(big / ref).toFixed(3)}; an encrypted GiB costs about ${(1073.741824 / big).toFixed(2)} s of CPU per side\n`,
);
