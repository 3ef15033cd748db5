// Host <-> GPU transfer rates through the WebGPU API as this runtime implements it (Dawn in Node,
// Deno's wgpu): the ways the backend can move a tensor in and out, each timed to completion.
//   node transfers.mjs [--mib 64] [out.json]
import { parseFlags } from '../../cli/flags.js';
import { median } from '../../cli/stats.js';
import { writeJson } from '../../cli/write-json.js';
import { acquireDevice } from '../../gpu/device.js';

const flags = parseFlags({ mib: 'number' });
const MiB = flags.number('mib', 64);
const outFile = flags.positionals[0];
const bytes = MiB * 2 ** 20;
const U = { MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80 };
const { device, release } = await acquireDevice({ powerPreference: 'high-performance' });
const host = new Float32Array(bytes / 4).map((_, i) => i % 1000);

/** Median of 7 after one unmeasured call; `rate`: print GB/s of `bytes` too. */
async function time(name: string, f: () => Promise<void>, rate = true): Promise<Record<string, unknown>> {
  await f();
  const ms: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  const m = median(ms);
  console.log(`${name.padEnd(58)} ${m.toFixed(3).padStart(8)} ms${rate ? `  ${(bytes / m / 1e6).toFixed(2).padStart(6)} GB/s` : ''}`);
  return { name, ms: m, ...(rate ? { gbps: bytes / m / 1e6 } : {}) };
}

const storage = device.createBuffer({ size: bytes, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST });
/** GPU -> host: a copy into a fresh MAP_READ buffer, mapAsync, then `take` the mapped bytes. */
const down = (how: string, take: (mapped: ArrayBuffer) => void) =>
  time(`down: copy to MAP_READ + mapAsync + ${how}`, async () => {
    const s = device.createBuffer({ size: bytes, usage: U.MAP_READ | U.COPY_DST });
    const e = device.createCommandEncoder();
    e.copyBufferToBuffer(storage, 0, s, 0, bytes);
    device.queue.submit([e.finish()]);
    await s.mapAsync(1);
    take(s.getMappedRange());
    s.unmap();
    s.destroy();
  });
const rows = [
  await time('up: createBuffer(mappedAtCreation) + set + unmap', async () => {
    const b = device.createBuffer({ size: bytes, usage: U.STORAGE | U.COPY_DST, mappedAtCreation: true });
    new Float32Array(b.getMappedRange()).set(host);
    b.unmap();
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    b.destroy();
  }),
  await time('up: queue.writeBuffer into an existing buffer', async () => {
    device.queue.writeBuffer(storage, 0, host);
    await device.queue.onSubmittedWorkDone();
  }),
  await time('up: createBuffer + queue.writeBuffer', async () => {
    const b = device.createBuffer({ size: bytes, usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(b, 0, host);
    await device.queue.onSubmittedWorkDone();
    b.destroy();
  }),
  await time('up: MAP_WRITE staging (mapAsync) + set + copyBufferToBuffer', async () => {
    const s = device.createBuffer({ size: bytes, usage: U.MAP_WRITE | U.COPY_SRC });
    await s.mapAsync(2);
    new Float32Array(s.getMappedRange()).set(host);
    s.unmap();
    const e = device.createCommandEncoder();
    e.copyBufferToBuffer(s, 0, storage, 0, bytes);
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
    s.destroy();
  }),
  await down('getMappedRange().slice', (mapped) => void mapped.slice(0)),
  await down('Float32Array.set', (mapped) => new Float32Array(bytes / 4).set(new Float32Array(mapped))),
  await time('round trip: submit([]) + onSubmittedWorkDone (no data)', async () => {
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
  }, false),
  await time('round trip: 16-byte copy + mapAsync (no data to speak of)', async () => {
    const s = device.createBuffer({ size: 16, usage: U.MAP_READ | U.COPY_DST });
    const e = device.createCommandEncoder();
    e.copyBufferToBuffer(storage, 0, s, 0, 16);
    device.queue.submit([e.finish()]);
    await s.mapAsync(1);
    s.unmap();
    s.destroy();
  }, false),
  await time('alloc: createBuffer + clearBuffer + submit + destroy (a fresh output each call)', async () => {
    const b = device.createBuffer({ size: bytes, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST });
    const e = device.createCommandEncoder();
    e.clearBuffer(b);
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
    b.destroy();
  }, false),
  await time('alloc: clearBuffer of an existing buffer + submit', async () => {
    const e = device.createCommandEncoder();
    e.clearBuffer(storage);
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
  }, false),
  await time('host only: Float32Array copy of the same size', async () => {
    new Float32Array(bytes / 4).set(host);
  }),
];
if (outFile) await writeJson(outFile, { MiB, rows });
release();
process.exit(0);
