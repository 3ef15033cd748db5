// The decode benchmarks' KV cache (bench/decode-pool-calls.ts, decode-held-step.ts): batch 1, H kv
// heads of head dim D, N tokens, key summaries of `block`; every chunk of tokens the same uniform
// draws (seed 1) as keys and values, and the step's one query row (seed 2, one per head).
import type { Engine, KvCache, Tensor } from '../src/index.js';
import { uniformFloats } from './random.js';

export async function randomDecodeCache(engine: Engine, H: number, D: number, N: number, block: number, chunk = 8192): Promise<{ kv: KvCache; q: Tensor }> {
  const kv = await engine.createKvCache({ batch: 1, kvHeads: H, headDim: D, capacity: N, summaryBlock: block });
  const tokens = uniformFloats(H * chunk * D, 1);
  for (let at = 0; at < N; at += chunk) {
    const n = Math.min(chunk, N - at);
    const part = { data: tokens.subarray(0, H * n * D), shape: [1, H, n, D] };
    await kv.append({ k: part, v: part });
  }
  return { kv, q: { data: uniformFloats(H * D, 2), shape: [1, H, 1, D] } };
}
