// WebGPU attention at the buffer wall (src/attention-parts.ts, lavapipe in CI): under a lowered
// wall (the backend's bufferLimitBytes option) a call whose buffers do not fit runs in parts,
// halves of its batch rows, then of its heads, with the same bits as one call; a call whose single
// head does not fit rejects with the wall's RangeError. Skipped, with the reason, without an adapter.
import { createWebGPUBackend, type WebGPUBackend } from '../../gpu/index.ts';
import { lastCallParts } from '../../src/attention-parts.ts';
import type { Tensor } from '../../src/types.ts';
import { mulberry32, randomAttentionArgs, randomKeyPaddingMask, randomLayout, randomTensor, type HostAttentionArgs, assertSameBits } from '../reference/index.ts';
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

/**
 * Beyond self-attention: 40 queries at per-row offsets against 100 keys (partial last blocks), a
 * layout per batch row, GQA 4/2; rpe [B, H, 40, 100] (16,000 bytes a head) sets the walls' steps.
 */
function generalArgs(rng: ReturnType<typeof mulberry32>): HostAttentionArgs {
  const [B, H, Hkv, Nq, Nk, D, block] = [3, 4, 2, 40, 100, 16, 16];
  const [R, C] = [Math.ceil((60 + Nq) / block), Math.ceil(Nk / block)];
  const flat = randomLayout(B * H, R, C, 0.6, rng, { block });
  return {
    q: randomTensor([B, H, Nq, D], rng),
    k: randomTensor([B, Hkv, Nk, D], rng),
    v: randomTensor([B, Hkv, Nk, D], rng),
    layout: { block, shape: [B, H, R, C], data: flat.data },
    qOffset: Int32Array.from([60, 25, 0]),
    causal: true,
    rpe: randomTensor([B, H, Nq, Nk], rng),
    keyPaddingMask: randomKeyPaddingMask(B, Nk, rng, { mode: 'add' }),
    keyPaddingMaskMode: 'add',
  };
}

// B 3, H 4: the forward splits down to 12 single query heads, the backward down to single kv
// groups (dk and dv sum over a group): 12 parts multi-head, 6 with two kv heads
const PARTS_CASES = [
  ['multi-head', 4, 12, false],
  ['GQA 4/2', 2, 6, false],
  ['offsets, Nk > Nq, partial blocks, a layout per batch row, GQA 4/2', 2, 6, true],
] as const;
for (const [name, kvHeads, backwardParts, general] of PARTS_CASES) {
  const rng = mulberry32(2026);
  const args = general ? generalArgs(rng) : randomAttentionArgs(rng, {
    shape: { B: 3, H: 4, N: 64, D: 16, block: 16, R: 4 }, kvHeads,
    causal: true, rpe: true, keyPaddingMaskMode: 'add', attnMaskMode: 'mul',
  });
  const dout: Tensor = randomTensor((args.q as Tensor).shape, rng);
  Deno.test({
    name: `webgpu, ${name}: attention in parts at the buffer wall gives one call's bits; a part that cannot be halved is refused`,
    ...opts,
    fn: async () => {
      const p = attentionProblem(args);
      const pb = attentionBackwardProblem({ ...args, dout });
      const out = (await whole!.attention(p)) as Float32Array;
      const g = await whole!.attentionBackward(pb);
      if (lastCallParts.count !== 1) throw new Error(`the whole call ran as ${lastCallParts.count} parts`);
      // the score modifiers are one buffer: rpe [B, H, N, N] (16,384 bytes a head) and the [N, N] attnMask (16,384), then the key padding
      const forwardSeen = new Set<number>();
      const backwardSeen = new Set<number>();
      let forwardRefused = false;
      let backwardRefused = false;
      const wallError = (e: unknown) => {
        if (!(e instanceof RangeError) || !/more than this device binds/.test(e.message)) throw e;
      };
      // walls from 256 KiB down in steps of 20%: each call either matches the whole call bit for bit or is refused
      for (let wall = 262144; wall >= 8192 && !forwardRefused; wall = Math.floor(wall * 0.8)) {
        const b = await backend(wall);
        try {
          const o = (await b.attention(p)) as Float32Array;
          forwardSeen.add(lastCallParts.count);
          assertSameBits(o, out, `out at a ${wall}-byte wall`);
        } catch (e) {
          wallError(e);
          forwardRefused = true;
        }
        if (!backwardRefused) try {
          const gp = await b.attentionBackward(pb);
          backwardSeen.add(lastCallParts.count);
          assertSameBits(gp.dq as Float32Array, g.dq as Float32Array, `dq at a ${wall}-byte wall`);
          assertSameBits(gp.dk as Float32Array, g.dk as Float32Array, `dk at a ${wall}-byte wall`);
          assertSameBits(gp.dv as Float32Array, g.dv as Float32Array, `dv at a ${wall}-byte wall`);
        } catch (e) {
          wallError(e);
          backwardRefused = true;
        }
        await b.close();
      }
      if (!forwardRefused || !backwardRefused) throw new Error('the smallest wall did not refuse both');
      if (![...forwardSeen].some((n) => n > 1 && n <= 3)) throw new Error(`no wall made parts of batch rows (forward parts seen: ${[...forwardSeen]})`);
      if (!forwardSeen.has(12)) throw new Error(`no wall split the forward down to single heads (parts seen: ${[...forwardSeen]})`);
      if (!backwardSeen.has(backwardParts)) throw new Error(`no wall split the backward down to single kv groups (parts seen: ${[...backwardSeen]})`);
    },
  });
}

Deno.test({ name: 'teardown', ...opts, ignore: false, fn: async () => { await Promise.all(backends.map((b) => b.close())); } });
