// What an op's Recorder (gpu/context.ts) saves of WebGPU calls, on lavapipe in CI: kept bind groups
// (gpu/bind-groups.ts) come back for the same buffers and are forgotten once a buffer is destroyed
// or past the cache's capacity; an untimed op's steps share one pass and still see each other's
// writes; small inputs in pooled buffers hold each op's own values. Skipped, with the reason,
// without an adapter.
import { BindGroupCache, bindGroupTuning } from '../../gpu/bind-groups.ts';
import { GpuContext } from '../../gpu/context.ts';
import { acquireDevice, type AcquiredDevice } from '../../gpu/device.ts';
import { BufferUsage, Program, type BindingSpec } from '../../gpu/program.ts';

let acq: AcquiredDevice | null = null;
try {
  acq = await acquireDevice({});
} catch (e) {
  console.warn(`webgpu recorder tests skipped: ${(e as Error).message}`);
}
const opts = { ignore: acq === null, sanitizeOps: false, sanitizeResources: false };

/** out[i] = src[i] · mul + add for i < n. */
class Affine extends Program {
  readonly name = 'Affine';
  readonly shaderKey = 'affine';
  readonly workgroupSize = 64;
  readonly bindings: readonly BindingSpec[] = [
    { name: 'src', access: 'read', elem: 'i32' },
    { name: 'out', access: 'read_write', elem: 'i32' },
  ];
  readonly uniforms = [['n', 'u32'], ['mul', 'i32'], ['add', 'i32']] as const;
  body(): string {
    return 'fn run(wg: u32, lid: u32) { let i = wg * 64u + lid; if (i < u.n) { out[i] = src[i] * u.mul + u.add; } }';
  }
}

const storage = (bytes: number) => acq!.device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE });

Deno.test('webgpu bind groups: kept for the same buffers, forgotten when one is destroyed, and past the capacity', opts, async () => {
  const ctx = new GpuContext(acq!.device, acq!.limits, acq!.timestampQuery, acq!.subgroupSize, false);
  const layout = (await ctx.pipelines.get(new Affine())).layout;
  const cache = new BindGroupCache(acq!.device, 2);
  const [a, b, c] = [storage(256), storage(256), storage(256)];
  const g1 = cache.get('t', layout, [{ buffer: a }, { buffer: b }]);
  if (cache.get('t', layout, [{ buffer: a }, { buffer: b }]) !== g1) throw new Error('the same buffers made a second group');
  if (cache.get('t', layout, [{ buffer: b }, { buffer: a }]) === g1) throw new Error('buffers in another order took the first group');
  b.destroy();
  if (cache.size !== 0) throw new Error(`${cache.size} groups kept after their buffer was destroyed`);
  const b2 = storage(256);
  const g2 = cache.get('t', layout, [{ buffer: a }, { buffer: b2 }]);
  if (g2 === g1) throw new Error('a group of a destroyed buffer came back');
  // capacity 2: a third group drops the least recently used (g2 was used before a, c's)
  cache.get('t', layout, [{ buffer: a }, { buffer: c }]);
  cache.get('t', layout, [{ buffer: c }, { buffer: a }]);
  if (cache.size !== 2) throw new Error(`${cache.size} groups kept, capacity 2`);
  if (cache.get('t', layout, [{ buffer: a }, { buffer: b2 }]) === g2) throw new Error('the least recently used group was kept past the capacity');
  for (const x of [a, b2, c]) x.destroy();
  if (cache.size !== 0 || cache.bytes !== 0) throw new Error(`${cache.size} groups, ${cache.bytes} bytes kept after every buffer was destroyed`);
});

Deno.test('webgpu bind groups: the kept groups hold at most maxBytes of distinct buffers', opts, async () => {
  const ctx = new GpuContext(acq!.device, acq!.limits, acq!.timestampQuery, acq!.subgroupSize, false);
  const layout = (await ctx.pipelines.get(new Affine())).layout;
  const saved = bindGroupTuning.maxBytes;
  const cache = new BindGroupCache(acq!.device, 100);
  try {
    bindGroupTuning.maxBytes = 4096;
    const [a, b, c, big] = [storage(1024), storage(1024), storage(1024), storage(8192)];
    const g1 = cache.get('t', layout, [{ buffer: a }, { buffer: b }]);
    cache.get('t', layout, [{ buffer: a }, { buffer: c }]);
    if (cache.bytes !== 3072) throw new Error(`${cache.bytes} bytes held for three 1 KiB buffers`);
    // a group past the bytes by itself is used, not kept, and leaves the others
    const g3 = cache.get('t', layout, [{ buffer: big }, { buffer: a }]);
    if (cache.size !== 2 || cache.bytes !== 3072) throw new Error(`${cache.size} groups, ${cache.bytes} bytes after a group past maxBytes`);
    if (cache.get('t', layout, [{ buffer: big }, { buffer: a }]) === g3) throw new Error('a group past maxBytes was kept');
    // two more 1 KiB buffers pass 4 KiB: the least recently used group goes (g1; a, c's stays)
    const [d, e] = [storage(1024), storage(1024)];
    cache.get('t', layout, [{ buffer: a }, { buffer: c }]);
    cache.get('t', layout, [{ buffer: d }, { buffer: e }]);
    if (cache.size !== 2 || cache.bytes !== 4096) throw new Error(`${cache.size} groups, ${cache.bytes} bytes, expected 2 and 4096`);
    if (cache.get('t', layout, [{ buffer: a }, { buffer: b }]) === g1) throw new Error('the least recently used group was kept past maxBytes');
    for (const x of [d, e]) x.destroy();
    for (const x of [a, b, c, big]) x.destroy();
  } finally {
    bindGroupTuning.maxBytes = saved;
  }
});

Deno.test('webgpu recorder: an untimed op\'s steps share a pass and see each other\'s writes; pooled inputs hold each op\'s values', opts, async () => {
  const ctx = new GpuContext(acq!.device, acq!.limits, acq!.timestampQuery, acq!.subgroupSize, false);
  const n = 300;
  for (let round = 0; round < 3; round++) {
    const rec = ctx.recorder('recorder probe');
    const src = rec.input('probe src', [Int32Array.from({ length: n }, (_, i) => i * (round + 1))]);
    const mid = rec.output('probe mid', n * 4);
    const out = rec.output('probe out', n * 4);
    // out = (src · 2 + round) · 3 + 1, through mid: the second step reads what the first wrote
    rec.dispatch(new Affine(), [src, mid], { n, mul: 2, add: round }, Math.ceil(n / 64));
    rec.dispatch(new Affine(), [mid, out], { n, mul: 3, add: 1 }, Math.ceil(n / 64));
    const got = new Int32Array((await rec.run([{ buffer: out, bytes: n * 4 }]))[0]!);
    for (let i = 0; i < n; i++) {
      const want = (i * (round + 1) * 2 + round) * 3 + 1;
      if (got[i] !== want) throw new Error(`round ${round}: out[${i}] is ${got[i]}, expected ${want}`);
    }
  }
  // the three rounds reused their buffers and groups rather than making new ones each time
  if (ctx.bindGroups.size > 2) throw new Error(`${ctx.bindGroups.size} bind groups kept for two steps over reused buffers`);
  ctx.emptyPools();
  if (ctx.bindGroups.size !== 0) throw new Error('emptyPools kept bind groups');
});

Deno.test('teardown', opts, () => acq?.release());
