// WebGPU attention at the buffer wall (src/attention-parts.ts, lavapipe in CI): under a lowered
// wall (the backend's bufferLimitBytes option) a call whose buffers do not fit runs in parts,
// halves of its batch rows, then of its heads, with the same bits as one call; a call whose single
// head does not fit rejects with the wall's RangeError. Skipped, with the reason, without an adapter.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.ts';
import { lastCallParts } from '../../src/attention-parts.ts';
import type { Tensor } from '../../src/types.ts';
import { mulberry32, randomAttentionArgs, randomTensor } from '../reference/index.ts';
import { attentionBackwardProblem, attentionProblem } from './problems.ts';

let skipReason = '';
const backends: WebGPUBackend[] = [];
async function backend(bufferLimitBytes?: number): Promise<WebGPUBackend> {
  const b = await createWebGPUBackend(bufferLimitBytes === undefined ? {} : { bufferLimitBytes });
  backends.push(b);
  return b;
}
let whole: WebGPUBackend | null = null;
try {
  whole = await backend();
} catch (e) {
  skipReason = (e as Error).message;
  console.warn(`webgpu parts tests skipped: ${skipReason}`);
}
const opts = { ignore: whole === null, sanitizeOps: false, sanitizeResources: false };

const rng = mulberry32(2026);
const args = randomAttentionArgs(rng, {
  shape: { B: 3, H: 4, N: 64, D: 16, block: 16, R: 4 },
  causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul',
});
const dout: Tensor = randomTensor((args.q as Tensor).shape, rng);

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} vs ${b.length}`);
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) throw new Error(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}

Deno.test({
  name: 'webgpu: attention in parts at the buffer wall gives one call\'s bits; a single head too large is refused',
  ...opts,
  fn: async () => {
    const p = attentionProblem(args);
    const pb = attentionBackwardProblem({ ...args, dout });
    const out = (await whole!.attention(p)) as Float32Array;
    const g = await whole!.attentionBackward(pb);
    if (lastCallParts.count !== 1) throw new Error(`the whole call ran as ${lastCallParts.count} parts`);
    // the score modifiers are one buffer: rpe [B, H, N, N] (16,384 bytes a head) and the [N, N] attnMask (16,384), then the key padding
    const seen = new Set<number>();
    let refused = false;
    for (const wall of [262144, 131072, 98304, 65536, 40960, 8192]) {
      const b = await backend(wall);
      try {
        const o = (await b.attention(p)) as Float32Array;
        seen.add(lastCallParts.count);
        const gp = await b.attentionBackward(pb);
        seen.add(lastCallParts.count);
        sameBits(o, out, `out at a ${wall}-byte wall`);
        sameBits(gp.dq as Float32Array, g.dq as Float32Array, `dq at a ${wall}-byte wall`);
        sameBits(gp.dk as Float32Array, g.dk as Float32Array, `dk at a ${wall}-byte wall`);
        sameBits(gp.dv as Float32Array, g.dv as Float32Array, `dv at a ${wall}-byte wall`);
      } catch (e) {
        if (!(e instanceof RangeError) || !/more than this device binds/.test(e.message)) throw e;
        refused = true;
      }
    }
    if (!refused) throw new Error('the smallest wall did not refuse the call');
    if (![...seen].some((n) => n > 1 && n < 12)) throw new Error(`no wall made parts of batch rows (parts seen: ${[...seen]})`);
    if (!seen.has(12)) throw new Error(`no wall split down to single heads (parts seen: ${[...seen]})`);
  },
});

Deno.test({ name: 'teardown', ...opts, ignore: false, fn: async () => { await Promise.all(backends.map((b) => b.close())); } });
