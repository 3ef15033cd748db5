// A tiny decoder-only language model with seeded random weights, generating greedily over a KV
// cache: the shape of a real decoding loop on blocksparse, small enough to run in seconds.
//
//   token embedding → per layer: RMSNorm → q, k, v projections → RoPE → GQA attention over the
//   KV cache under Phi-3-small's block-sparse pattern → o projection → residual → RMSNorm →
//   MLP (SiLU) → residual → final RMSNorm → unembedding → argmax
//
// The projections and the MLP are BlockSparseLinear layers on the same engine as the attention, so
// a run on WebGPU runs every matmul there; the elementwise parts (norms, RoPE, SiLU, residuals,
// embedding, unembedding) are plain JavaScript. The model takes the library as an argument (`lib`):
// the Node CLI passes the package entry (dist/src/index.js), the browser demo its bundle, the test
// the sources, and the file itself imports nothing.
//
// generate() prefills the prompt (one attention call over its tokens) and then decodes one token
// per step (Nq = 1); with `check`, every step is recomputed without the cache, attention over the
// whole sequence with k and v tensors, and the two must pick the same tokens.

/** The default shape; every field can be overridden. */
export const DEFAULTS = Object.freeze({
  vocab: 512,
  dModel: 256,
  heads: 8, // query heads (Hq)
  kvHeads: 2, // key/value heads (Hkv): GQA, 4 query heads per kv head
  headDim: 32, // D
  ffn: 1024, // MLP hidden width
  layers: 1,
  block: 16, // the attention layout's block
  localBlocks: 4, // Phi-3-small's local window, in blocks (the model: 16 blocks of 64)
  vertStride: 4, // every vertStride-th block column is kept (the model: 8)
  linearBlock: 16, // the projections' weight blocks
  density: 0.5, // fraction of the projections' weight blocks kept
  prompt: 200, // prompt tokens
  tokens: 32, // tokens to generate
  seed: 1,
});

/** mulberry32: small, seeded, the same numbers in every runtime. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(n, bound, next) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * next() - 1) * bound;
  return a;
}

/** A prompt of `n` token ids drawn from the seed. */
export function randomPrompt(n, vocab, seed) {
  const next = rng(seed ^ 0x5eed);
  return Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/** Phi-3-small's pattern at the model's shape: a local window of blocks plus every vertStride-th column, shifted per head. */
export function attentionSparsity(lib, options = {}) {
  const c = { ...DEFAULTS, ...options };
  return new lib.Phi3SmallSparsityConfig({ numHeads: c.heads, block: c.block, numLocalBlocks: c.localBlocks, verticalStride: c.vertStride });
}

/**
 * Builds the model on `engine` (from lib.createEngine) with `lib` the blocksparse module. The layout
 * is built once, for the cache's capacity (`capacity`, default prompt + tokens), and read top-left
 * by every call.
 */
export function createTinyDecoder(lib, engine, options = {}) {
  const c = { ...DEFAULTS, ...options };
  for (const [name, value] of Object.entries(c)) {
    if (name !== 'density' && (!Number.isInteger(value) || value < (name === 'seed' ? 0 : 1))) throw new RangeError(`tiny-decoder: ${name} must be a positive integer, got ${value}`);
  }
  if (c.heads % c.kvHeads !== 0) throw new RangeError(`tiny-decoder: kvHeads (${c.kvHeads}) must divide heads (${c.heads})`);
  if (c.headDim % 2 !== 0) throw new RangeError(`tiny-decoder: headDim must be even (RoPE rotates pairs), got ${c.headDim}`);
  const capacity = options.capacity ?? c.prompt + c.tokens;
  const next = rng(c.seed);
  const linear = (inFeatures, outFeatures, i) =>
    new lib.BlockSparseLinear({ inFeatures, outFeatures, density: c.density, block: c.linearBlock, bias: false, scaleInitByDensity: true, seed: c.seed * 1000 + i, engine });
  const qkv = c.heads * c.headDim;
  const kvw = c.kvHeads * c.headDim;
  const layers = Array.from({ length: c.layers }, (_, l) => ({
    wq: linear(c.dModel, qkv, 8 * l),
    wk: linear(c.dModel, kvw, 8 * l + 1),
    wv: linear(c.dModel, kvw, 8 * l + 2),
    wo: linear(qkv, c.dModel, 8 * l + 3),
    w1: linear(c.dModel, c.ffn, 8 * l + 4),
    w2: linear(c.ffn, c.dModel, 8 * l + 5),
  }));
  const sparsity = attentionSparsity(lib, c);
  const layout = sparsity.makeLayout(capacity);
  return {
    config: { ...c, capacity },
    engine,
    layout,
    sparsity,
    layers,
    // small next to what the sublayers add, so that the context steers the next token (at ±1 greedy
    // decoding of this random model locks onto one token within a few steps)
    embedding: uniform(c.vocab * c.dModel, 0.3, next), // [vocab, dModel]
    unembedding: uniform(c.vocab * c.dModel, 1 / Math.sqrt(c.dModel), next), // [vocab, dModel]
    ropeInv: Float64Array.from({ length: c.headDim / 2 }, (_, i) => 10000 ** (-(2 * i) / c.headDim)),
    attentionMs: 0,
    attentionCalls: 0,
  };
}

// ---- the elementwise parts (plain JavaScript) ---------------------------------------------------

function rmsNorm(x, T, d) {
  const y = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x[t * d + i] * x[t * d + i];
    const r = 1 / Math.sqrt(s / d + 1e-6);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i] * r;
  }
  return y;
}

/** [T, H·D] rows (token-major, as a projection gives them) → [1, H, T, D], rotated by RoPE at positions pos0 … pos0 + T − 1 when `inv` is given. */
function toHeads(x, T, H, D, pos0, inv) {
  const out = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const src = t * H * D + h * D;
      const dst = (h * T + t) * D;
      if (!inv) {
        out.set(x.subarray(src, src + D), dst);
        continue;
      }
      for (let i = 0; i < D / 2; i++) {
        const angle = (pos0 + t) * inv[i];
        const cos = Math.cos(angle), sin = Math.sin(angle);
        const a = x[src + i], b = x[src + i + D / 2];
        out[dst + i] = a * cos - b * sin;
        out[dst + i + D / 2] = a * sin + b * cos;
      }
    }
  }
  return { data: out, shape: [1, H, T, D] };
}

/** [1, H, T, D] → [T, H·D]. */
function fromHeads(x, T, H, D) {
  const out = new Float32Array(x.length);
  for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) out.set(x.subarray((h * T + t) * D, (h * T + t + 1) * D), t * H * D + h * D);
  return out;
}

function addInto(x, y) {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

// ---- the forward pass ---------------------------------------------------------------------------

async function timedAttention(model, args) {
  const t0 = performance.now();
  const out = await model.engine.attention(args);
  model.attentionMs += performance.now() - t0;
  model.attentionCalls++;
  return out;
}

/**
 * Runs `tokens` (at positions pos0 …) through the model and returns the logits of the last one.
 * With `caches` (one per layer), their k and v are appended and attention reads the cache;
 * without, `tokens` must be the whole sequence (pos0 = 0) and attention takes k and v tensors.
 */
async function forward(model, tokens, pos0, caches) {
  const { dModel: d, heads: Hq, kvHeads: Hkv, headDim: D, vocab } = model.config;
  const T = tokens.length;
  const x = new Float32Array(T * d);
  for (let t = 0; t < T; t++) x.set(model.embedding.subarray(tokens[t] * d, (tokens[t] + 1) * d), t * d);
  for (let l = 0; l < model.layers.length; l++) {
    const L = model.layers[l];
    const h = { data: rmsNorm(x, T, d), shape: [T, d] };
    const [q, k, v] = await Promise.all([L.wq.forward(h), L.wk.forward(h), L.wv.forward(h)]);
    const qh = toHeads(q.data, T, Hq, D, pos0, model.ropeInv);
    const kh = toHeads(k.data, T, Hkv, D, pos0, model.ropeInv);
    const vh = toHeads(v.data, T, Hkv, D, pos0, null);
    let att;
    if (caches) {
      await caches[l].append({ k: kh, v: vh });
      att = await timedAttention(model, { q: qh, kv: caches[l], layout: model.layout, causal: true });
    } else {
      att = await timedAttention(model, { q: qh, k: kh, v: vh, layout: model.layout, causal: true });
    }
    const o = await L.wo.forward({ data: fromHeads(att.data, T, Hq, D), shape: [T, Hq * D] });
    addInto(x, o.data);
    const u = await L.w1.forward({ data: rmsNorm(x, T, d), shape: [T, d] });
    for (let i = 0; i < u.data.length; i++) u.data[i] = u.data[i] / (1 + Math.exp(-u.data[i])); // SiLU
    addInto(x, (await L.w2.forward(u)).data);
  }
  const last = rmsNorm(x.subarray((T - 1) * d), 1, d);
  const logits = new Float32Array(vocab);
  for (let j = 0; j < vocab; j++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += last[i] * model.unembedding[j * d + i];
    logits[j] = s;
  }
  return logits;
}

function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** The gap between the two largest logits: how far a token is from a tie. */
function margin(a) {
  let first = -Infinity, second = -Infinity;
  for (const x of a) {
    if (x > first) (second = first), (first = x);
    else if (x > second) second = x;
  }
  return first - second;
}

/** KV caches of the model's capacity, one per layer. */
export function createCaches(model) {
  const { kvHeads, headDim, capacity } = model.config;
  return Promise.all(model.layers.map(() => model.engine.createKvCache({ batch: 1, kvHeads, headDim, capacity })));
}

/**
 * Greedy generation over KV caches: one prefill call over `prompt`, then `tokens` decode steps.
 * Resolves to the generated ids, the logits of every step, and the times of prefill and decode.
 * With `check: true`, also recomputes every step without the cache (the whole sequence, attention
 * with k and v tensors, fed the same tokens) and reports whether each step picks the same token.
 */
export async function generate(model, { prompt, tokens = model.config.tokens, check = false, onToken } = {}) {
  if (prompt.length + tokens > model.config.capacity) throw new RangeError(`tiny-decoder: prompt (${prompt.length}) + tokens (${tokens}) exceeds the capacity (${model.config.capacity})`);
  const caches = await createCaches(model);
  try {
    model.attentionMs = 0;
    const t0 = performance.now();
    let logits = await forward(model, prompt, 0, caches);
    const prefillMs = performance.now() - t0;
    const prefillAttentionMs = model.attentionMs;
    const generated = [];
    const allLogits = [];
    model.attentionMs = 0;
    const t1 = performance.now();
    for (let i = 0; i < tokens; i++) {
      const id = argmax(logits);
      generated.push(id);
      allLogits.push(logits);
      onToken?.(id, i);
      if (i + 1 < tokens) logits = await forward(model, [id], prompt.length + i, caches);
    }
    // tokens − 1 decode steps: the first token comes from the prefill's logits
    const decodeMs = performance.now() - t1;
    const result = {
      prompt,
      tokens: generated,
      logits: allLogits,
      prefill: { tokens: prompt.length, ms: prefillMs, attentionMs: prefillAttentionMs, tokensPerSecond: (1000 * prompt.length) / prefillMs },
      decode: { steps: tokens - 1, ms: decodeMs, attentionMs: model.attentionMs, tokensPerSecond: tokens > 1 ? (1000 * (tokens - 1)) / decodeMs : NaN },
    };
    if (check) result.check = await recomputeCheck(model, prompt, generated, allLogits);
    return result;
  } finally {
    for (const cache of caches) cache.destroy();
  }
}

/**
 * Step i recomputed from scratch over prompt + generated[0 … i − 1] (no cache): its argmax must be
 * generated[i]. Reports the steps that disagree, the largest logit difference and the smallest
 * top-two gap of the cached run (a tie closer than the tolerance could flip a token legitimately).
 */
export async function recomputeCheck(model, prompt, generated, logits) {
  const mismatches = [];
  let maxLogitDiff = 0;
  let minMargin = Infinity;
  const seq = [...prompt];
  for (let i = 0; i < generated.length; i++) {
    const ref = await forward(model, seq, 0, null);
    const id = argmax(ref);
    if (id !== generated[i]) mismatches.push({ step: i, cached: generated[i], recomputed: id });
    for (let j = 0; j < ref.length; j++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(ref[j] - logits[i][j]));
    minMargin = Math.min(minMargin, margin(logits[i]));
    seq.push(generated[i]);
  }
  return { steps: generated.length, agree: mismatches.length === 0, mismatches, maxLogitDiff, minMargin };
}

/** A short run at the model's shape that compiles what the timed run will use (GPU pipelines, fitted layouts). */
export async function warmUp(model, prompt) {
  await generate(model, { prompt, tokens: 2 });
}
