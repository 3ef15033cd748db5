// Benchmark (not a test): the fused forward's two products at one 64-key block, in the forms the
// CPU kernel could take (bench/kernels/score-forms.ts), on one core, rounds alternating, beside
// the 64³ ceiling measured in the same rounds. GFLOP/s of CPU time, medians over rounds.
//   bash bench/kernels/build.sh && node --import tsx bench/score-forms.ts [--rounds 9] [--out F]
// (from the project root; the modules land in build/ beside the library's).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { createMemory } from '../src/cpu/wasm.js';
import { enableRelaxedSimd } from '../src/probe.js';

const flags = parseFlags({ rounds: 'int', out: 'string' });
const ROUNDS = flags.int('rounds', 9);
const OUT = flags.string('out') ?? fileURLToPath(new URL('./results/score-forms.json', import.meta.url));
const TARGET_FLOP = 2e8;

type Fn = (...a: number[]) => void;

function cpuMs(f: () => void): number {
  const c0 = process.cpuUsage();
  f();
  const u = process.cpuUsage(c0);
  return (u.user + u.system) / 1000;
}

async function forms(build: 'simd' | 'relaxed') {
  if (build === 'relaxed') await enableRelaxedSimd();
  // from the project root, here or bundled on the GPU machine; built with asconfig.json's options
  // as the library is (an imported shared memory, no assertions, so no imports beside it)
  const bytes = readFileSync(`build/score-forms.${build}.wasm`);
  const mem = createMemory(64);
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory: mem } });
  const x = instance.exports as Record<string, Fn>;
  let top = 1 << 16;
  const put = (a: Float32Array): number => {
    const p = top;
    new Float32Array(mem.buffer as ArrayBuffer, p, a.length).set(a);
    top += (a.byteLength + 63) & ~63;
    return p;
  };
  const rows: Record<string, () => number> = {};
  const add = (name: string, flop: number, call: (reps: number) => void) => {
    const reps = Math.max(1, Math.round(TARGET_FLOP / flop));
    call(1);
    rows[name] = () => (flop * reps) / cpuMs(() => call(reps)) / 1e6;
  };
  const a = put(uniformFloats(64 * 64, 1)), b = put(uniformFloats(64 * 64, 2)), c = put(new Float32Array(64 * 64));
  add('ceiling 64³', 2 * 64 * 64 * 64, (r) => x.matmulCeiling(a, b, c, 64, 64, 64, r));
  for (const D of [64, 128]) {
    const k = put(uniformFloats(64 * D, 3)), v = put(uniformFloats(64 * D, 4));
    const qt = put(uniformFloats(D * 64, 5)), s = put(uniformFloats(64 * 64, 6));
    const kp = put(new Float32Array(64 * D)), o = put(new Float32Array(64 * D));
    const alpha = put(new Float32Array(64).fill(1));
    const flop = 2 * 64 * 64 * D;
    add(`D${D} score strided`, flop, (r) => x.scoreStrided(k, qt, s, D, r));
    add(`D${D} score split 64`, flop, (r) => x.scoreSplit(k, qt, s, D, 64, r));
    add(`D${D} score split 32`, flop, (r) => x.scoreSplit(k, qt, s, D, 32, r));
    add(`D${D} score panels (prepacked)`, flop, (r) => x.scorePanel(k, kp, qt, s, D, 0, r));
    add(`D${D} score panels + pack`, flop, (r) => x.scorePanel(k, kp, qt, s, D, 1, r));
    add(`D${D} pv today`, flop, (r) => x.pvToday(s, v, o, alpha, D, r));
    add(`D${D} pv strips 32`, flop, (r) => x.pvStrips(s, v, o, alpha, D, 32, r));
    add(`D${D} pv strips 64`, flop, (r) => x.pvStrips(s, v, o, alpha, D, 64, r));
  }
  return rows;
}

const results: Record<string, Record<string, number>> = {};
for (const build of ['simd', 'relaxed'] as const) {
  const rows = await forms(build);
  const names = Object.keys(rows);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) rows[n]!(); // a warm-up round: every form compiled by the optimising tier
  for (let i = 0; i < ROUNDS; i++) for (const n of names) samples[n]!.push(rows[n]!());
  results[build] = Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}
const ceil = (b: string) => results[b]!['ceiling 64³']!;
console.log('form'.padEnd(34) + 'simd GFLOP/s  (of ceiling)   relaxed GFLOP/s  (of ceiling)');
for (const n of Object.keys(results.simd!)) {
  const cell = (b: string) => `${results[b]![n]!.toFixed(1).padStart(8)}  (${((100 * results[b]![n]!) / ceil(b)).toFixed(0).padStart(3)}%)`;
  console.log(n.padEnd(34) + cell('simd') + '      ' + cell('relaxed'));
}
await writeJson(OUT, { rounds: ROUNDS, results });
