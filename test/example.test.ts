// The generation example (examples/tiny-decoder.mjs, which examples/generate.mjs and the demo run)
// at a tiny size on the CPU: greedy decoding over the KV cache picks the same tokens as recomputing
// every step without it (attention over the whole sequence with k and v tensors), so the example
// cannot rot; and the check itself catches a wrong token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as bs from '../src/index.js';
import { createTinyDecoder, generate, randomPrompt, recomputeCheck } from '../examples/tiny-decoder.mjs';

// two layers, GQA (2 query heads per kv head), a prompt that ends inside a block, and a Phi-3-small
// layout that is sparse at this length (local window of 2 blocks, every 3rd column)
const SHAPE = { vocab: 64, dModel: 32, heads: 4, kvHeads: 2, headDim: 8, ffn: 64, layers: 2, block: 8, localBlocks: 2, vertStride: 3, linearBlock: 8, prompt: 37, tokens: 12, seed: 3 };

let engine: bs.Engine;

test.before(async () => {
  engine = await bs.createEngine({ backend: 'cpu', threads: 2 });
});

test.after(async () => {
  await engine.close();
});

test('decoding over the KV cache picks the tokens that recomputing without it picks', async () => {
  const model = createTinyDecoder(bs, engine, SHAPE);
  const density = bs.describeLayout(model.layout).density;
  assert.ok(density < 0.75, `the layout keeps ${density} of its blocks: the pattern would not matter`);
  const prompt = randomPrompt(SHAPE.prompt, SHAPE.vocab, SHAPE.seed);
  const r = await generate(model, { prompt, check: true });
  assert.is(r.tokens.length, SHAPE.tokens);
  assert.ok(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < SHAPE.vocab));
  assert.ok(r.check, 'no check result');
  assert.equal(r.check.mismatches, []);
  assert.ok(r.check.agree);
  // within the CPU tolerance; a gap this wide between the top two logits cannot flip a token
  assert.ok(r.check.maxLogitDiff <= 1e-4, `max |Δlogit| ${r.check.maxLogitDiff}`);
  assert.ok(r.check.minMargin > 10 * r.check.maxLogitDiff, `top-2 gap ${r.check.minMargin} vs max |Δlogit| ${r.check.maxLogitDiff}`);
  assert.ok(r.prefill.tokensPerSecond > 0 && r.decode.steps === SHAPE.tokens - 1);
});

test('the check reports a step whose token is not the recomputed argmax', async () => {
  const model = createTinyDecoder(bs, engine, SHAPE);
  const prompt = randomPrompt(SHAPE.prompt, SHAPE.vocab, SHAPE.seed);
  const r = await generate(model, { prompt, tokens: 4 });
  // the last step, so that no later step is fed the wrong token
  const wrong = [...r.tokens];
  wrong[3] = (wrong[3] + 1) % SHAPE.vocab;
  const k = await recomputeCheck(model, prompt, wrong, r.logits);
  assert.not.ok(k.agree);
  assert.equal(k.mismatches.map((m) => m.step), [3]);
  assert.is(k.mismatches[0].recomputed, r.tokens[3]);
});

test('a prompt and tokens past the capacity are refused before anything runs', async () => {
  const model = createTinyDecoder(bs, engine, { ...SHAPE, capacity: 40 });
  await generate(model, { prompt: randomPrompt(37, SHAPE.vocab, 1), tokens: 4 }).then(
    () => assert.unreachable('resolved'),
    (e: Error) => assert.instance(e, RangeError),
  );
});

test.run();
