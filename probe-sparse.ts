import { createEngine } from '/work/main/src/index.ts';
import { plantedInputs } from '/work/main/bench/planted-matches.ts';
const N = +(Deno.args[0] ?? 8192), H = 8, D = 64, block = 64;
const e = await createEngine({ backend: 'webgpu' });
const inp = plantedInputs({ H, N, D, block, plants: 1, beta: 6, plantRows: 64, seed: 17 + N });
const shape = inp.shape;
const [q, k, v] = await Promise.all([inp.q, inp.k, inp.v].map((data) => e.upload({ data, shape })));
for (const s of [{ topK: 8 }, { topK: 16 }, { topK: 32 }, { threshold: 0.5 }]) {
  const held = await e.selectBlocks({ q, k, block, causal: true, keep: { diagonal: true }, ...s, keepOnDevice: true });
  console.log(JSON.stringify(s), 'select', JSON.stringify(e.lastTimings?.kernels));
  for (let i = 0; i < 2; i++) {
    const out = await e.attention({ q, k, v, layout: held, causal: true, keepOnDevice: true });
    console.log('  attention', e.lastTimings?.kernelMs?.toFixed(2), JSON.stringify(e.lastTimings?.kernels));
    out.destroy();
  }
  held.destroy();
}
await e.close();
