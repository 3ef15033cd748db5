// End-to-end time of attention through the engine, what a user's call costs, with the operands on
// the host (each call uploads q, k, v and reads the output back) against DeviceTensors (uploaded
// once, keepOnDevice: nothing crosses the bus on WebGPU, no copy into or out of Wasm memory on the
// CPU), beside the kernel time from timestamp queries on WebGPU. Medians of REPS calls after WARM,
// each kind measured alternately in one run.
//   node .device/bench/end-to-end.mjs [out.json] [--backward] [--quick] [--backend=cpu|webgpu] [--threads=T]
//     [--max-n=N] [--pool-bytes=B] (the WebGPU buffer pool's cap; 0: off)
//   node --import tsx bench/gpu/end-to-end.ts --backend=cpu --max-n=16384     (this machine's CPU)
//   deno run -A --unstable-webgpu --unstable-sloppy-imports bench/gpu/end-to-end.ts --quick   (lavapipe: smoke only)
// Layout: issue 6's (B=1, H=16, D=64, block 128; each block row keeps itself, the 3 blocks before
// it and every 8th block column), as bench/gpu/attention.ts --versus and flex_attention.py.
import { createEngine, type CallTimings, type Engine } from '../../src/engine.js';
import type { DeviceTensor, Layout, Tensor } from '../../src/types.js';
import { bufferPoolTuning } from '../../gpu/buffer-pool.js';
import { layoutFromMask } from '../../src/layouts/mask.js';
import { parseFlags } from '../../cli/flags.js';
import { uniformFloats } from '../../cli/random.js';
import { median } from '../../cli/stats.js';
import { writeJson } from '../../cli/write-json.js';

const flags = parseFlags({ backward: 'bool', quick: 'bool', backend: 'string', threads: 'int', 'max-n': 'int', 'pool-bytes': 'int' });
const outFile = flags.positionals[0];
const withBackward = flags.bool('backward');
const quick = flags.bool('quick');
const backend = flags.string('backend', 'webgpu') as 'cpu' | 'webgpu';
// --pool-bytes=0 turns the WebGPU backend's buffer pool off (A/B against the default)
if (flags.has('pool-bytes')) bufferPoolTuning.maxBytes = flags.int('pool-bytes', 0, 0);
const threads = flags.has('threads') ? flags.int('threads', 1) : undefined;
const maxN = flags.int('max-n', Infinity);
// V8 runs a Wasm function in its baseline tier until it has been called enough, per worker
const WARM = backend === 'cpu' ? 8 : 2;
const REPS = quick ? 3 : 10;
const H = 16;
const D = 64;
const block = quick ? 32 : 128;
const seqs = (quick ? [256, 512] : [1024, 4096, 16384, 65536]).filter((n) => n <= maxN);

function versusLayout(N: number): Layout {
  return layoutFromMask(H, N / block, (_h, r, c) => (r - c >= 0 && r - c <= 3) || c % 8 === 0, block);
}

function tensor(n: number, seed: number): Tensor {
  return { data: uniformFloats(n, seed, 0.5), shape: [1, H, n / (H * D), D] };
}


interface Sample {
  wallMs: number;
  kernelMs: number | null;
}

async function sample(engine: Engine, call: () => Promise<unknown>): Promise<Sample> {
  await call();
  const t = engine.lastTimings as CallTimings;
  return { wallMs: t.wallMs, kernelMs: t.kernelMs ?? null };
}

const engine = await createEngine({ backend, threads });
console.log(JSON.stringify(backend === 'webgpu'
  ? { adapter: engine.info.vendor, architecture: engine.info.architecture, device: engine.info.description }
  : { backend, threads: engine.info.threads, simd: engine.info.simd }));
const results: Record<string, unknown>[] = [];
try {
  for (const N of seqs) {
    const layout = versusLayout(N);
    const n = H * N * D;
    const [q, k, v, dout] = [1, 2, 3, 4].map((s) => tensor(n, s));
    const [qd, kd, vd, dd] = await Promise.all([q, k, v, dout].map((t) => engine.upload(t)));
    const host = { forward: [] as Sample[], backward: [] as Sample[] };
    const device = { forward: [] as Sample[], backward: [] as Sample[] };
    const kept: DeviceTensor[] = [];
    for (let i = 0; i < WARM + REPS; i++) {
      const keep = i >= WARM;
      const h = await sample(engine, () => engine.attention({ q, k, v, layout }));
      const d = await sample(engine, async () => kept.push(await engine.attention({ q: qd, k: kd, v: vd, layout, keepOnDevice: true })));
      if (keep) host.forward.push(h), device.forward.push(d);
      if (withBackward) {
        const hb = await sample(engine, () => engine.attentionBackward({ q, k, v, layout, dout }));
        const db = await sample(engine, async () => {
          const g = await engine.attentionBackward({ q: qd, k: kd, v: vd, layout, dout: dd, keepOnDevice: true });
          kept.push(g.dq, g.dk, g.dv);
        });
        if (keep) host.backward.push(hb), device.backward.push(db);
      }
      for (const t of kept.splice(0)) t.destroy();
    }
    for (const t of [qd, kd, vd, dd]) t.destroy();
    const summary = (xs: Sample[]) =>
      xs.length ? { wallMs: median(xs.map((s) => s.wallMs)), kernelMs: xs[0].kernelMs === null ? null : median(xs.map((s) => s.kernelMs!)) } : null;
    const rec = {
      N, H, D, block, bytesPerOperand: n * 4,
      forward: { host: summary(host.forward), device: summary(device.forward) },
      backward: withBackward ? { host: summary(host.backward), device: summary(device.backward) } : null,
    };
    results.push(rec);
    const f = rec.forward;
    const fmt = (s: { wallMs: number; kernelMs: number | null } | null) =>
      s ? `${s.wallMs.toFixed(2)} ms${s.kernelMs !== null ? ` (kernels ${s.kernelMs.toFixed(2)})` : ''}` : '-';
    console.log(
      `N ${String(N).padStart(6)}  forward: host tensors ${fmt(f.host)}, DeviceTensors ${fmt(f.device)}, ×${(f.host!.wallMs / f.device!.wallMs).toFixed(2)}` +
        (rec.backward ? `  backward: host ${fmt(rec.backward.host)}, device ${fmt(rec.backward.device)}, ×${(rec.backward.host!.wallMs / rec.backward.device!.wallMs).toFixed(2)}` : ''),
    );
  }
} finally {
  await engine.close();
}
if (outFile) {
  await writeJson(outFile, { device: engine.info, results });
}
