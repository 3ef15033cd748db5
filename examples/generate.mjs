// Greedy generation with a tiny random decoder (examples/tiny-decoder.mjs) over a KV cache, on the
// CPU and on WebGPU where an adapter exists: prints the generated token ids and tokens/s for the
// prefill and for decode. Imports the library as a user would, through the package entry.
//
//   node examples/generate.mjs [--backend cpu|webgpu|all] [--check] [--context N] [--tokens N] ...
//   npm run example            (npm run build first: it reads dist/)
//
// Runs under Deno too (deno run -A --unstable-webgpu examples/generate.mjs), where WebGPU is Deno's own.
import { DEFAULTS, attentionSparsity, createTinyDecoder, generate, randomPrompt, warmUp } from './tiny-decoder.mjs';

const bs = await import('../dist/src/index.js').catch((e) => {
  console.error(`generate: the package entry dist/src/index.js did not load (run npm run build first): ${e.message}`);
  process.exit(1);
});

const FLAGS = {
  '--context': 'prompt', // prompt tokens (the prefill)
  '--prompt': 'prompt',
  '--tokens': 'tokens',
  '--heads': 'heads',
  '--kv-heads': 'kvHeads',
  '--head-dim': 'headDim',
  '--d-model': 'dModel',
  '--ffn': 'ffn',
  '--layers': 'layers',
  '--vocab': 'vocab',
  '--block': 'block',
  '--local-blocks': 'localBlocks',
  '--vert-stride': 'vertStride',
  '--density': 'density',
  '--seed': 'seed',
  '--threads': 'threads',
};

const HELP = `usage: node examples/generate.mjs [options]
  --backend cpu|webgpu|all   where to run (default all: the CPU, then WebGPU if an adapter exists)
  --check                    also recompute every step without the cache and require the same tokens
  --context N                prompt tokens, prefilled in one call (default ${DEFAULTS.prompt})
  --tokens N                 tokens to generate (default ${DEFAULTS.tokens})
  --heads N --kv-heads N     query and key/value heads (default ${DEFAULTS.heads}, ${DEFAULTS.kvHeads})
  --head-dim N --d-model N   (default ${DEFAULTS.headDim}, ${DEFAULTS.dModel}); --ffn N (default ${DEFAULTS.ffn}); --layers N (default ${DEFAULTS.layers})
  --vocab N                  (default ${DEFAULTS.vocab})
  --block N                  the attention layout's block (default ${DEFAULTS.block})
  --local-blocks N --vert-stride N   Phi-3-small's pattern (default ${DEFAULTS.localBlocks}, ${DEFAULTS.vertStride})
  --density X                kept fraction of the projections' weight blocks (default ${DEFAULTS.density})
  --seed N                   weights and prompt (default ${DEFAULTS.seed})
  --threads N                CPU threads (default: all cores)`;

function parseArgs(argv) {
  const opts = { backend: 'all', check: false, model: {}, threads: undefined };
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split('=', 2);
    if (flag === '--help' || flag === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (flag === '--check') {
      opts.check = true;
      continue;
    }
    if (flag !== '--backend' && !(flag in FLAGS)) usage(`unknown argument '${argv[i]}'`);
    if (value === undefined) value = argv[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === '--backend') {
      if (!['cpu', 'webgpu', 'all'].includes(value)) usage(`--backend must be cpu, webgpu or all, got '${value}'`);
      opts.backend = value;
      continue;
    }
    const n = Number(value);
    if (!Number.isFinite(n)) usage(`${flag} must be a number, got '${value}'`);
    if (flag === '--threads') opts.threads = n;
    else opts.model[FLAGS[flag]] = n;
  }
  return opts;
}

function usage(message) {
  console.error(`generate: ${message}\n${HELP}`);
  process.exit(2);
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

async function runOn(backend, opts, prompt) {
  let engine;
  try {
    engine = await bs.createEngine(backend === 'cpu' ? { backend, threads: opts.threads } : { backend });
  } catch (e) {
    if (backend === 'webgpu' && opts.backend === 'all') {
      console.log(`\n[webgpu] skipped: ${e.message}`);
      return null;
    }
    throw e;
  }
  try {
    const model = createTinyDecoder(bs, engine, opts.model);
    const c = model.config;
    const info = engine.info;
    const where = backend === 'cpu' ? `${info.threads} thread${info.threads === 1 ? '' : 's'}, ${info.simd}` : [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'adapter';
    console.log(`\n[${backend}] ${where}`);
    await warmUp(model, prompt);
    const r = await generate(model, { prompt, tokens: c.tokens, check: opts.check });
    console.log(`  generated: ${r.tokens.join(' ')}`);
    console.log(`  prefill  ${r.prefill.tokens} tokens in ${fmt(r.prefill.ms)} ms: ${fmt(r.prefill.tokensPerSecond)} tokens/s (attention ${fmt(r.prefill.attentionMs)} ms)`);
    console.log(`  decode   ${r.decode.steps} steps in ${fmt(r.decode.ms)} ms: ${fmt(r.decode.tokensPerSecond)} tokens/s (attention ${fmt(r.decode.attentionMs)} ms, ${fmt(r.decode.attentionMs / Math.max(1, r.decode.steps * c.layers), 2)} ms a call)`);
    if (r.check) {
      const k = r.check;
      console.log(
        `  check    ${k.agree ? 'ok' : 'FAILED'}: ${k.steps - k.mismatches.length}/${k.steps} steps pick the same token recomputed without the cache` +
          ` (max |Δlogit| ${k.maxLogitDiff.toExponential(2)}, smallest top-2 gap ${k.minMargin.toExponential(2)})`,
      );
      for (const m of k.mismatches.slice(0, 5)) console.log(`           step ${m.step}: cached ${m.cached}, recomputed ${m.recomputed}`);
    }
    return r;
  } finally {
    await engine.close();
  }
}

const opts = parseArgs(process.argv.slice(2));
const model = { ...DEFAULTS, ...opts.model };
const prompt = randomPrompt(model.prompt, model.vocab, model.seed);
const layout = attentionSparsity(bs, model).makeLayout(model.prompt + model.tokens);
const d = bs.describeLayout(layout);
console.log(
  `tiny decoder: vocab ${model.vocab}, d_model ${model.dModel}, ${model.layers} layer${model.layers === 1 ? '' : 's'}, Hq ${model.heads}, Hkv ${model.kvHeads}, D ${model.headDim}, ffn ${model.ffn}; ` +
    `prompt ${model.prompt}, generate ${model.tokens}; Phi-3-small layout, block ${model.block}: ${d.blockRows}×${d.blockCols} blocks, ${(100 * d.density).toFixed(1)}% kept`,
);
console.log(`  prompt: ${prompt.slice(0, 16).join(' ')}${prompt.length > 16 ? ' …' : ''}`);

const results = {};
let failed = false;
for (const backend of opts.backend === 'all' ? ['cpu', 'webgpu'] : [opts.backend]) {
  const r = await runOn(backend, opts, prompt);
  if (r) results[backend] = r;
  if (r?.check && !r.check.agree) failed = true;
}
if (results.cpu && results.webgpu) {
  const same = results.cpu.tokens.every((t, i) => t === results.webgpu.tokens[i]);
  console.log(`\nCPU and WebGPU generated ${same ? 'the same tokens' : 'different tokens (each within its tolerance: compare the check lines)'}`);
}
if (failed) process.exit(1);
