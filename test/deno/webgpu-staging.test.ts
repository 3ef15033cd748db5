// The readbacks' staging buffers (gpu/staging-pool.ts, lavapipe in CI): reused across ops, of
// power-of-two sizes; reads of many sizes, several in one op and ops in flight together each get
// their own bytes; buffers past the pool's bounds are destroyed, not kept; and an op's steps read
// their own uniforms from the one buffer that holds them all (gpu/context.ts). Skipped, with the
// reason, without an adapter.
import { GpuContext } from '../../gpu/context.ts';
import { acquireDevice, type AcquiredDevice } from '../../gpu/device.ts';
import { Program, type BindingSpec } from '../../gpu/program.ts';
import { stagingPoolTuning, stagingSize } from '../../gpu/staging-pool.ts';

let acq: AcquiredDevice | null = null;
try {
  acq = await acquireDevice({});
} catch (e) {
  console.warn(`webgpu staging tests skipped: ${(e as Error).message}`);
}
const opts = { ignore: acq === null, sanitizeOps: false, sanitizeResources: false };

/** out[off + i] = base + i for i < n: each step's uniforms say where and what. */
class Fill extends Program {
  readonly name = 'Fill';
  readonly shaderKey = 'fill';
  readonly workgroupSize = 64;
  readonly bindings: readonly BindingSpec[] = [{ name: 'out', access: 'read_write', elem: 'i32' }];
  readonly uniforms = [['n', 'u32'], ['off', 'u32'], ['base', 'i32']] as const;
  body(): string {
    return 'fn run(wg: u32, lid: u32) { let i = wg * 64u + lid; if (i < u.n) { out[u.off + i] = u.base + i32(i); } }';
  }
}

/** One op: `parts` fills of `n` values each into one buffer, read back in full. */
async function fillOp(ctx: GpuContext, n: number, parts: number, base: number): Promise<Int32Array> {
  const rec = ctx.recorder('staging probe');
  const out = rec.output('staging probe out', n * parts * 4);
  for (let p = 0; p < parts; p++) rec.dispatch(new Fill(), [out], { n, off: p * n, base: base + p * 1000 }, Math.ceil(n / 64));
  const [bytes] = await rec.run([{ buffer: out, bytes: n * parts * 4 }]);
  return new Int32Array(bytes!);
}

function expectFill(got: Int32Array, n: number, parts: number, base: number, label: string): void {
  if (got.length !== n * parts) throw new Error(`${label}: ${got.length} values, expected ${n * parts}`);
  for (let p = 0; p < parts; p++) {
    for (let i = 0; i < n; i++) {
      if (got[p * n + i] !== base + p * 1000 + i) throw new Error(`${label}: value ${p * n + i} is ${got[p * n + i]}, expected ${base + p * 1000 + i}`);
    }
  }
}

Deno.test('webgpu staging: sizes are powers of two from 256 bytes up to the largest kept', () => {
  const cases: [number, number][] = [[0, 256], [1, 256], [256, 256], [257, 512], [4000, 4096], [stagingPoolTuning.largest, stagingPoolTuning.largest]];
  for (const [bytes, want] of cases) if (stagingSize(bytes) !== want) throw new Error(`stagingSize(${bytes}) is ${stagingSize(bytes)}, expected ${want}`);
  const past = stagingPoolTuning.largest + 16;
  if (stagingSize(past) !== past) throw new Error(`past the largest kept a read takes its own size: ${stagingSize(past)}`);
});

Deno.test('webgpu staging: ops reuse the staging buffers and read their own bytes, in flight together too', opts, async () => {
  const ctx = new GpuContext(acq!.device, acq!.limits, acq!.timestampQuery, acq!.subgroupSize);
  // sizes that share a staging size and sizes that do not; one op of 5 steps (5 uniform slots)
  let base = 7;
  for (const [n, parts] of [[10, 1], [50, 1], [64, 5], [1000, 2], [3, 1]]) {
    expectFill(await fillOp(ctx, n, parts, base), n, parts, base, `n ${n} parts ${parts}`);
    base += 100000;
  }
  const held = ctx.staging.bytes;
  if (held === 0) throw new Error('no staging buffer was kept');
  expectFill(await fillOp(ctx, 50, 1, 3), 50, 1, 3, 'again');
  if (ctx.staging.bytes !== held) throw new Error(`a read of a size seen before changed the pool: ${held} → ${ctx.staging.bytes} bytes`);
  // three ops in flight: each takes its own buffer
  const bases = [11, 22222, 333333];
  const got = await Promise.all(bases.map((b) => fillOp(ctx, 40, 3, b)));
  got.forEach((g, i) => expectFill(g, 40, 3, bases[i]!, `in flight ${i}`));
  ctx.staging.clear();
  if (ctx.staging.bytes !== 0) throw new Error('clear kept bytes');
});

Deno.test('webgpu staging: a read past the largest kept, or past the pool bytes, is not kept', opts, async () => {
  // no timestamps: their readback would take a staging buffer of its own
  const ctx = new GpuContext(acq!.device, acq!.limits, acq!.timestampQuery, acq!.subgroupSize, false);
  const saved = { ...stagingPoolTuning };
  try {
    stagingPoolTuning.largest = 1024;
    stagingPoolTuning.maxBytes = 4096;
    expectFill(await fillOp(ctx, 1000, 1, 5), 1000, 1, 5, 'past the largest');
    if (ctx.staging.bytes !== 0) throw new Error(`a 4000-byte read was kept past a 1024-byte largest: ${ctx.staging.bytes}`);
    // four 1 KiB reads in flight fill the pool's 4 KiB; a fifth is destroyed
    const got = await Promise.all([1, 2, 3, 4, 5].map((b) => fillOp(ctx, 200, 1, b * 1000)));
    got.forEach((g, i) => expectFill(g, 200, 1, (i + 1) * 1000, `bounded ${i}`));
    if (ctx.staging.bytes !== 4096) throw new Error(`the pool holds ${ctx.staging.bytes} bytes, expected its 4096`);
  } finally {
    Object.assign(stagingPoolTuning, saved);
    ctx.staging.clear();
  }
});

Deno.test('teardown', opts, () => acq?.release());
