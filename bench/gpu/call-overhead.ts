// Where the wall time of a small WebGPU op goes in this runtime (Dawn for Node, Deno's wgpu): each
// API step an op takes, timed alone (median of --reps after a warm-up), then one op through the
// backend's Recorder (gpu/context.ts) with and without timestamp queries. A kernel of microseconds
// took milliseconds of wall time per call on the H200 machine; this says which step holds them.
//   node call-overhead.mjs [--reps 41] [out.json]
import { parseFlags } from '../../cli/flags.js';
import { median } from '../../cli/stats.js';
import { writeJson } from '../../cli/write-json.js';
import { GpuContext } from '../../gpu/context.js';
import { acquireDevice } from '../../gpu/device.js';
import { BufferUsage as U, MapModeRead, Program, type BindingSpec } from '../../gpu/program.js';

const flags = parseFlags({ reps: 'int' });
const reps = flags.int('reps', 41);
const outFile = flags.positionals[0];
const acq = await acquireDevice({ powerPreference: 'high-performance' });
const { device } = acq;

const rows: { step: string; ms: number }[] = [];
async function time(step: string, f: () => unknown): Promise<void> {
  for (let i = 0; i < 3; i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  rows.push({ step, ms: median(ms) });
  console.log(`${step.padEnd(72)} ${median(ms).toFixed(4).padStart(9)} ms`);
}

class Fill extends Program {
  readonly name = 'Fill';
  readonly shaderKey = 'fill';
  readonly workgroupSize = 64;
  readonly bindings: readonly BindingSpec[] = [{ name: 'out', access: 'read_write', elem: 'i32' }];
  readonly uniforms = [['n', 'u32']] as const;
  body(): string {
    return 'fn run(wg: u32, lid: u32) { let i = wg * 64u + lid; if (i < u.n) { out[i] = i32(i); } }';
  }
}
const ctx = new GpuContext(device, acq.limits, acq.timestampQuery, acq.subgroupSize);
const fill = new Fill();
const { pipeline, layout } = await ctx.pipelines.get(fill);
const storage = device.createBuffer({ size: 4096, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST });
const staging = device.createBuffer({ size: 4096, usage: U.MAP_READ | U.COPY_DST });
const uniform = device.createBuffer({ size: 256, usage: U.UNIFORM | U.COPY_DST });
const words = new Uint32Array(64);

await time('await a resolved promise (the event loop)', () => Promise.resolve());
await time('await setImmediate', () => new Promise((r) => setImmediate(r)));
await time('submit an empty command buffer + onSubmittedWorkDone', () => {
  device.queue.submit([device.createCommandEncoder().finish()]);
  return device.queue.onSubmittedWorkDone();
});
const dispatch = (enc: GPUCommandEncoder, group: GPUBindGroup, q?: GPUQuerySet) => {
  const pass = enc.beginComputePass(q ? { timestampWrites: { querySet: q, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(1);
  pass.end();
};
const group = device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: storage } }, { binding: 1, resource: { buffer: uniform } }] });
await time('one dispatch + onSubmittedWorkDone', () => {
  const enc = device.createCommandEncoder();
  dispatch(enc, group);
  device.queue.submit([enc.finish()]);
  return device.queue.onSubmittedWorkDone();
});
await time('copy 256 B to a reused MAP_READ buffer + mapAsync + unmap', async () => {
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(storage, 0, staging, 0, 256);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(MapModeRead, 0, 256);
  staging.unmap();
});
await time('copy 256 B to a fresh MAP_READ buffer + mapAsync + destroy', async () => {
  const s = device.createBuffer({ size: 256, usage: U.MAP_READ | U.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(storage, 0, s, 0, 256);
  device.queue.submit([enc.finish()]);
  await s.mapAsync(MapModeRead);
  s.destroy();
});
await time('onSubmittedWorkDone, then mapAsync of a reused buffer', async () => {
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(storage, 0, staging, 0, 256);
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  await staging.mapAsync(MapModeRead, 0, 256);
  staging.unmap();
});
await time('push 2 error scopes + pop both (nothing between)', () => {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  return Promise.all([device.popErrorScope(), device.popErrorScope()]);
});
await time('createQuerySet(timestamp, 2) + destroy', () => device.createQuerySet({ type: 'timestamp', count: 2 }).destroy());
await time('8 × (createBuffer 64 B uniform + writeBuffer + destroy)', () => {
  for (let i = 0; i < 8; i++) {
    const b = device.createBuffer({ size: 64, usage: U.UNIFORM | U.COPY_DST });
    device.queue.writeBuffer(b, 0, words, 0, 16);
    b.destroy();
  }
});
await time('8 × createBindGroup', () => {
  for (let i = 0; i < 8; i++) device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: storage } }, { binding: 1, resource: { buffer: uniform } }] });
});
await time('createBuffer 1 MiB storage + destroy', () => device.createBuffer({ size: 1 << 20, usage: U.STORAGE | U.COPY_SRC }).destroy());
await time('createBuffer 256 B storage, mappedAtCreation + set + unmap + destroy', () => {
  const b = device.createBuffer({ size: 256, usage: U.STORAGE | U.COPY_DST, mappedAtCreation: true });
  new Uint32Array(b.getMappedRange()).set(words);
  b.unmap();
  b.destroy();
});
await time('createBuffer 256 B storage + writeBuffer + destroy', () => {
  const b = device.createBuffer({ size: 256, usage: U.STORAGE | U.COPY_DST });
  device.queue.writeBuffer(b, 0, words);
  b.destroy();
});
await time('one timed dispatch (query set, resolve, both read back) + mapAsync', async () => {
  const q = device.createQuerySet({ type: 'timestamp', count: 2 });
  const r = device.createBuffer({ size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC });
  const enc = device.createCommandEncoder();
  dispatch(enc, group, q);
  enc.resolveQuerySet(q, 0, 2, r, 0);
  enc.copyBufferToBuffer(r, 0, staging, 0, 16);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(MapModeRead, 0, 16);
  staging.unmap();
  q.destroy();
  r.destroy();
});
// the backend's own path: Recorder.run with one dispatch and a 256 B readback
for (const timings of [true, false]) {
  const ctx = new GpuContext(device, acq.limits, acq.timestampQuery, acq.subgroupSize, timings);
  for (const steps of [1, 6]) {
    await time(`Recorder: ${steps} dispatch${steps > 1 ? 'es' : ''} + 256 B read back, timings ${timings}`, async () => {
      const rec = ctx.recorder('probe');
      const out = rec.output('probe out', 4096);
      for (let i = 0; i < steps; i++) rec.dispatch(fill, [out], { n: 64 }, 1);
      await rec.run([{ buffer: out, bytes: 256 }]);
    });
  }
}
if (outFile) await writeJson(outFile, { bench: 'call-overhead', reps, adapter: acq.adapterInfo, rows });
acq.release();
process.exit(0);
