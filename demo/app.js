// The demo page: build a layout from a sparsity config, draw it, run the same attention on the CPU
// engine and the WebGPU engine, and compare. Plain ES module over the browser bundle
// (npm run demo builds it): no bundler, no network beyond this origin.
//
// For scripts (test/browser/run.mjs): window.blocksparseDemo holds { ready, state, last }, where
// `last` is the latest run with its inputs and outputs as plain arrays; #status carries data-state.
// dtype float16 (offered where the adapter has shader-f16): q, k, v as half floats on both engines;
// each row says which path its engine took (engine.info.float16Ops.attention, and the kernels that
// ran where the engine times them), and each float16 result is compared with the same engine's
// float32 result on the draws before rounding (widened with fromFloat16): what half floats cost.
// The generate panel runs examples/tiny-decoder.mjs (the model of `npm run example`) on the page's
// engine; its state and latest result are window.blocksparseDemo.generation { state, last }.
import * as bs from '../dist/browser/blocksparse.js';
import { DEFAULTS, createTinyDecoder, generate, randomPrompt, warmUp } from '../examples/tiny-decoder.mjs';

const $ = (id) => document.getElementById(id);

/** Per config: its extra options, as DeepSpeed names them (camel-cased), with DeepSpeed's defaults. */
const ATTENTION = { type: 'select', options: ['bidirectional', 'unidirectional'] };
const CONFIGS = {
  FixedSparsityConfig: [
    { name: 'numLocalBlocks', type: 'int', value: 4 },
    { name: 'numGlobalBlocks', type: 'int', value: 1 },
    { name: 'attention', ...ATTENTION, value: 'bidirectional' },
    { name: 'horizontalGlobalAttention', type: 'bool', value: false },
    { name: 'differentLayoutPerHead', type: 'bool', value: false },
    { name: 'numDifferentGlobalPatterns', type: 'int', value: 1 },
  ],
  BigBirdSparsityConfig: [
    { name: 'numRandomBlocks', type: 'int', value: 1 },
    { name: 'numSlidingWindowBlocks', type: 'int', value: 3 },
    { name: 'numGlobalBlocks', type: 'int', value: 1 },
    { name: 'attention', ...ATTENTION, value: 'bidirectional' },
    { name: 'differentLayoutPerHead', type: 'bool', value: false },
    { name: 'seed', type: 'int', value: 0 },
  ],
  BSLongformerSparsityConfig: [
    { name: 'numSlidingWindowBlocks', type: 'int', value: 3 },
    { name: 'globalBlockIndices', type: 'ints', value: '0' },
    { name: 'globalBlockEndIndices', type: 'ints', value: '', optional: true },
    { name: 'attention', ...ATTENTION, value: 'bidirectional' },
    { name: 'differentLayoutPerHead', type: 'bool', value: false },
  ],
  VariableSparsityConfig: [
    { name: 'numRandomBlocks', type: 'int', value: 0 },
    { name: 'localWindowBlocks', type: 'ints', value: '4' },
    { name: 'globalBlockIndices', type: 'ints', value: '0' },
    { name: 'globalBlockEndIndices', type: 'ints', value: '', optional: true },
    { name: 'attention', ...ATTENTION, value: 'bidirectional' },
    { name: 'horizontalGlobalAttention', type: 'bool', value: false },
    { name: 'differentLayoutPerHead', type: 'bool', value: false },
    { name: 'seed', type: 'int', value: 0 },
  ],
  LocalSlidingWindowSparsityConfig: [
    { name: 'numSlidingWindowBlocks', type: 'int', value: 3 },
    { name: 'attention', ...ATTENTION, value: 'unidirectional' },
  ],
  StridedSparsityConfig: [
    { name: 'localWindowBlocks', type: 'int', value: 4 },
    { name: 'stride', type: 'int', value: '', optional: true },
    { name: 'attention', ...ATTENTION, value: 'unidirectional' },
    { name: 'differentLayoutPerHead', type: 'bool', value: false },
  ],
  DenseSparsityConfig: [],
};

const demo = { ready: false, state: 'loading', last: undefined, error: undefined, generation: { state: 'idle', last: undefined } };
window.blocksparseDemo = demo;

function setStatus(state, text) {
  demo.state = state;
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

// ---- the form ----------------------------------------------------------------------------------

function renderParams(config) {
  const box = $('params');
  box.replaceChildren(Object.assign(document.createElement('legend'), { textContent: `${config} parameters` }));
  const fields = CONFIGS[config];
  if (fields.length === 0) box.append(Object.assign(document.createElement('div'), { className: 'env', textContent: 'none: every block is kept' }));
  for (const f of fields) {
    const label = document.createElement('label');
    label.className = f.type === 'bool' ? 'check' : '';
    label.append(f.name + ' ');
    let input;
    if (f.type === 'select') {
      input = document.createElement('select');
      for (const o of f.options) input.append(new Option(o, o, o === f.value, o === f.value));
    } else {
      input = document.createElement('input');
      if (f.type === 'bool') {
        input.type = 'checkbox';
        input.checked = f.value;
      } else if (f.type === 'int') {
        input.type = 'number';
        input.step = '1';
        input.value = String(f.value);
        if (f.optional) input.placeholder = 'default';
      } else {
        input.type = 'text';
        input.value = f.value;
        input.placeholder = f.optional ? 'none (e.g. 1, 3)' : 'e.g. 0, 2';
      }
    }
    input.id = `p-${f.name}`;
    input.name = f.name;
    input.addEventListener('input', updateLayout);
    input.addEventListener('change', updateLayout);
    label.append(input);
    box.append(label);
  }
}

/** The config's options from the form; a blank optional field is left out (the default applies). */
function readOptions(config) {
  const options = { numHeads: Number($('numHeads').value), block: Number($('block').value) };
  for (const f of CONFIGS[config]) {
    const el = $(`p-${f.name}`);
    if (f.type === 'bool') options[f.name] = el.checked;
    else if (f.type === 'select') options[f.name] = el.value;
    else if (el.value.trim() === '' && f.optional) continue;
    else if (f.type === 'int') options[f.name] = Number(el.value);
    else options[f.name] = el.value.split(/[\s,]+/).filter(Boolean).map(Number);
  }
  return options;
}

function readRun() {
  return {
    config: $('config').value,
    options: readOptions($('config').value),
    seqLen: Number($('seqLen').value),
    D: Number($('headDim').value),
    B: Number($('batch').value),
    causal: $('causal').checked,
    dtype: $('dtype').value,
    threads: $('threads').value === 'auto' ? undefined : Number($('threads').value),
    reps: Math.max(1, Number($('reps').value) | 0),
    dataSeed: Number($('dataSeed').value) >>> 0,
  };
}

// ---- the layout ----------------------------------------------------------------------------------

let current; // { config, layout } or undefined when the form's config is rejected

function updateLayout() {
  const run = readRun();
  const Config = bs[run.config];
  try {
    if (typeof Config !== 'function') throw new Error(`${run.config} is not exported by dist/browser/blocksparse.js`);
    const config = new Config(run.options);
    const layout = config.makeLayout(run.seqLen);
    const [H, R] = layout.shape;
    const heads = H <= 8 ? 'all' : [...Array(8).keys()];
    const cellSize = Math.max(1, Math.min(12, Math.floor(200 / R)));
    const title = `${config.kind ?? run.config} · ${(100 * bs.describeLayout(layout).density).toFixed(1)}% kept`;
    $('layout').innerHTML = bs.layoutToSVG(layout, { heads, cellSize, title }); // our own SVG text
    const d = bs.describeLayout(layout);
    $('layout-summary').textContent =
      `${String(config)} · seqLen ${d.seqLen} · ${d.nnz} kept blocks of ${d.heads * d.blockRows * d.blockCols} (density ${(100 * d.density).toFixed(1)}%)` +
      (H > 8 ? ` · first 8 of ${H} heads drawn` : '') +
      (d.emptyRows ? ` · ${d.emptyRows} empty block rows` : '');
    $('layout-error').textContent = '';
    current = { config, layout };
    $('run').disabled = !demo.ready;
  } catch (e) {
    current = undefined;
    $('layout').replaceChildren();
    $('layout-summary').textContent = '';
    $('layout-error').textContent = `${e.name}: ${e.message}`;
    $('run').disabled = true;
  }
}

// ---- the engines -----------------------------------------------------------------------------------

const engines = new Map(); // 'cpu:<threads>' | 'webgpu' → Promise<Engine>

function engineFor(key, options) {
  if (!engines.has(key)) {
    const p = bs.createEngine(options);
    p.catch(() => engines.delete(key)); // a failure is reported, and retried on the next run
    engines.set(key, p);
  }
  return engines.get(key);
}

/** mulberry32: small, seeded, the same numbers in every browser. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTensor(shape, next) {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 2 * next() - 1;
  return { data, shape };
}

/** A float32 tensor as float16 (half-float bits), and the half values widened back (what both engines compute from). */
function halfOf(t) {
  const bits = bs.toFloat16(t.data);
  return { half: { data: bits, shape: t.shape, dtype: 'float16' }, values: { data: bs.fromFloat16(bits), shape: t.shape } };
}

/** An output's values as float32 (a float16 one widened). */
const valuesOf = (t) => (t.dtype === 'float16' ? bs.fromFloat16(t.data) : t.data);

async function timeBackend(engine, args, reps) {
  const out = await engine.attention(args); // warm-up: compiles pipelines, uploads tables
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await engine.attention(args);
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  // the programs the last call ran, where the engine names them (WebGPU with timestamp-query)
  const ran = [...new Set((engine.lastTimings?.kernels ?? []).map((k) => k.kernel))];
  return { out, times, ms: sorted[Math.floor(sorted.length / 2)], ran };
}

const maxAbsDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** float16 runs: the engine's float32 result on the unrounded draws, and the float16 result's largest distance from it. */
async function againstFloat32(engine, args32, out16) {
  const out = (await engine.attention(args32)).data;
  return { out, maxDiff: maxAbsDiff(valuesOf(out16), out) };
}

/** One line from engine.info: threads and SIMD build (CPU), adapter and features (WebGPU). */
const describeInfo = (info, dtype) => {
  const parts = [];
  if (info.threads !== undefined) parts.push(`threads ${info.threads}`);
  if (info.simd) parts.push(`SIMD build ${info.simd}`);
  if (info.backend === 'webgpu') {
    const adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    parts.push(`adapter ${adapter || '(unnamed)'}`);
    if (info.source) parts.push(String(info.source));
    if (Array.isArray(info.features)) parts.push(`${info.features.length} features${info.subgroups ? ', subgroups' : ''}`);
  }
  if (dtype === 'float16' && info.float16Ops) parts.push(`float16: ${info.float16Ops.attention}`);
  return parts.join(' · ');
};

/** The kernels that ran, with the matrix units named where they did. */
const describeRan = (ran) =>
  ran?.length ? `ran ${ran.join(', ')}${ran.includes('AttentionForwardMmaProgram') ? ' (the matrix units)' : ''}` : '';

async function run() {
  if (!current) return;
  const params = readRun();
  const { layout } = current;
  const [H] = layout.shape;
  const shape = [params.B, H, params.seqLen, params.D];
  const next = rng(params.dataSeed);
  const drawn = [randomTensor(shape, next), randomTensor(shape, next), randomTensor(shape, next)];
  const half = params.dtype === 'float16' ? drawn.map(halfOf) : null;
  // float16: both engines take the half floats; the values kept for scripts are the half values
  const [q, k, v] = half ? half.map((h) => h.values) : drawn;
  const args32 = { q: drawn[0], k: drawn[1], v: drawn[2], layout, causal: params.causal };
  const args = half ? { q: half[0].half, k: half[1].half, v: half[2].half, layout, causal: params.causal } : args32;
  const nnz = bs.describeLayout(layout).nnz;
  const flops = 4 * params.B * nnz * layout.block * layout.block * params.D; // q·kᵀ and p·v over kept blocks

  $('run').disabled = true;
  setStatus('running', 'running on the CPU…');
  const result = { params: { ...params, H }, layout: { block: layout.block, shape: [...layout.shape], data: Array.from(layout.data) }, flops };
  try {
    const cpuKey = `cpu:${params.threads ?? 'auto'}`;
    const cpu = await engineFor(cpuKey, { backend: 'cpu', threads: params.threads });
    const c = await timeBackend(cpu, args, params.reps);
    result.cpu = { ms: c.ms, times: c.times, info: cpu.info, ran: c.ran, out: valuesOf(c.out) };
    if (half) result.cpu.float32 = await againstFloat32(cpu, args32, c.out);

    setStatus('running', 'running on WebGPU…');
    try {
      const gpu = await engineFor('webgpu', { backend: 'webgpu' });
      const g = await timeBackend(gpu, args, params.reps);
      result.gpu = { ms: g.ms, times: g.times, info: gpu.info, ran: g.ran, out: valuesOf(g.out) };
      if (half) result.gpu.float32 = await againstFloat32(gpu, args32, g.out);
    } catch (e) {
      result.gpu = { error: `${e.name}: ${e.message}` };
    }
    if (result.gpu.out) result.maxDiff = maxAbsDiff(result.cpu.out, result.gpu.out);
    render(result);
    // plain arrays for scripts; float16 runs also keep the unrounded draws and each engine's float32 result
    const plain = (r) => (r.out ? { ...r, out: Array.from(r.out), ...(r.float32 ? { float32: { ...r.float32, out: Array.from(r.float32.out) } } : {}) } : r);
    demo.last = {
      ...result, q: Array.from(q.data), k: Array.from(k.data), v: Array.from(v.data), cpu: plain(result.cpu), gpu: plain(result.gpu),
      ...(half ? { drawn: { q: Array.from(drawn[0].data), k: Array.from(drawn[1].data), v: Array.from(drawn[2].data) } } : {}),
    };
    setStatus('done', `done: CPU ${result.cpu.ms.toFixed(2)} ms${result.gpu.out ? `, WebGPU ${result.gpu.ms.toFixed(2)} ms` : ', WebGPU unavailable'}`);
  } catch (e) {
    demo.error = `${e.name}: ${e.message}`;
    demo.last = { ...result, error: demo.error };
    setStatus('error', demo.error);
  } finally {
    $('run').disabled = !current;
  }
}

// ---- results -----------------------------------------------------------------------------------

function render(r) {
  const rows = [
    { name: `CPU (Wasm ${r.cpu.info.simd ?? ''}, ${r.cpu.info.threads} thread${r.cpu.info.threads === 1 ? '' : 's'})`, color: '#2563eb', ...r.cpu },
    r.gpu.out ? { name: 'WebGPU', color: '#059669', ...r.gpu } : { name: 'WebGPU', color: '#9ca3af', ms: undefined, error: r.gpu.error },
  ];
  $('chart').innerHTML = barChart(rows.map((row) => ({ label: row.name, value: row.ms, color: row.color, note: row.error ? 'unavailable' : undefined })));
  const tbody = $('results').querySelector('tbody');
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement('tr');
    const cell = (text, cls) => tr.appendChild(Object.assign(document.createElement('td'), { textContent: text, className: cls ?? '' }));
    cell(row.name);
    if (row.ms === undefined) {
      cell('—');
      cell('—');
      cell('—');
      const td = cell(row.error ?? '');
      td.className = 'note';
    } else {
      cell(`${row.ms.toFixed(2)} ms`, 'num');
      cell(row.times.map((t) => t.toFixed(1)).join(' '), 'num');
      cell((r.flops / row.ms / 1e6).toFixed(2), 'num');
      const td = cell(describeInfo(row.info, r.params.dtype));
      const ran = describeRan(row.ran);
      if (ran) td.append(Object.assign(document.createElement('div'), { textContent: ran }));
      for (const f of row.info.fallbacks ?? []) td.append(Object.assign(document.createElement('div'), { className: 'note', textContent: `fallback: ${f}` }));
    }
    tbody.append(tr);
  }
  const diff = $('diff');
  diff.replaceChildren();
  if (r.maxDiff === undefined) {
    diff.textContent = 'Max |CPU − WebGPU|: n/a (WebGPU did not run).';
  } else {
    // float16 outputs: each engine rounds its f32 result once, so they may differ by a half-float step
    const ok = r.maxDiff <= (r.params.dtype === 'float16' ? 2e-3 : 1e-3);
    diff.append(`Max |CPU − WebGPU| over ${r.cpu.out.length} outputs: `, Object.assign(document.createElement('span'), { className: ok ? 'ok' : 'bad', id: 'max-diff', textContent: r.maxDiff.toExponential(2) }));
    const [fast, slow] = r.cpu.ms <= r.gpu.ms ? ['The CPU', r.gpu.ms / r.cpu.ms] : ['WebGPU', r.cpu.ms / r.gpu.ms];
    diff.append(Object.assign(document.createElement('div'), { className: 'env', textContent: `${fast} was ${slow.toFixed(1)}× faster on this problem${r.gpu.info.architecture === 'swiftshader' ? ' (this WebGPU adapter is SwiftShader, a CPU emulation)' : ''}.` }));
  }
  if (r.cpu.float32) {
    // what half floats cost: rounding q, k, v, the f16 kernels (WebGPU with shader-f16) and rounding out
    const parts = [['CPU', r.cpu.float32], ...(r.gpu.float32 ? [['WebGPU', r.gpu.float32]] : [])].map(([name, f]) => `${name} ${f.maxDiff.toExponential(2)}`);
    diff.append(Object.assign(document.createElement('div'), { id: 'vs-float32', className: 'env', textContent: `float16 against float32 (the same draws before rounding to float16), max |Δ|: ${parts.join(', ')}` }));
  }
}

/** Horizontal bars, one per backend, as inline SVG. */
function barChart(bars) {
  const W = 640, left = 250, right = 90, barH = 26, gap = 10, top = 8;
  const max = Math.max(...bars.map((b) => b.value ?? 0), 1e-9);
  const H = top + bars.length * (barH + gap) + 18;
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="median time per backend">`];
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const w = b.value === undefined ? 0 : Math.max(2, ((W - left - right) * b.value) / max);
    parts.push(`<text x="${left - 8}" y="${y + barH / 2 + 4}" text-anchor="end" font-size="12" fill="#111827">${esc(b.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${w}" height="${barH}" rx="3" fill="${b.color}"/>`);
    const text = b.value === undefined ? b.note ?? '' : `${b.value.toFixed(2)} ms`;
    parts.push(`<text x="${left + w + 6}" y="${y + barH / 2 + 4}" font-size="12" fill="#374151">${esc(text)}</text>`);
  });
  parts.push(`<text x="${left}" y="${H - 4}" font-size="10" fill="#6b7280">median wall time per attention call (lower is better)</text>`);
  parts.push('</svg>');
  return parts.join('');
}

// ---- generate ------------------------------------------------------------------------------------

/** The page's engine: WebGPU where an adapter exists, else the CPU (with the reason WebGPU did not start). */
async function pageEngine() {
  try {
    return { engine: await engineFor('webgpu', { backend: 'webgpu' }) };
  } catch (e) {
    return { engine: await engineFor('cpu:auto', { backend: 'cpu' }), fallback: `${e.name}: ${e.message}` };
  }
}

function setGenStatus(state, text) {
  demo.generation.state = state;
  const s = $('gen-status');
  s.dataset.state = state;
  s.textContent = text;
}

async function runGeneration() {
  const [heads, kvHeads] = $('gen-heads').value.split('/').map(Number);
  const options = { prompt: Number($('gen-prompt').value), tokens: Number($('gen-tokens').value), heads, kvHeads };
  const check = $('gen-check').checked;
  $('generate').disabled = true;
  setGenStatus('running', 'starting the engine…');
  try {
    const { engine, fallback } = await pageEngine();
    const model = createTinyDecoder(bs, engine, options);
    const c = model.config;
    const prompt = randomPrompt(c.prompt, c.vocab, c.seed);
    setGenStatus('running', `warming up on ${engine.backend}…`);
    await warmUp(model, prompt);
    setGenStatus('running', `generating on ${engine.backend}…`);
    const shown = [];
    const r = await generate(model, { prompt, tokens: c.tokens, check, onToken: (id) => shown.push(id) });
    const last = { backend: engine.backend, info: engine.info, fallback, config: c, tokens: r.tokens, prefill: r.prefill, decode: r.decode, check: r.check, density: bs.describeLayout(model.layout).density };
    demo.generation.last = last;
    renderGeneration(last);
    const checked = r.check ? (r.check.agree ? ', check ok' : ', check FAILED') : '';
    setGenStatus(r.check && !r.check.agree ? 'error' : 'done', `done on ${engine.backend}: prefill ${r.prefill.tokensPerSecond.toFixed(0)} tokens/s, decode ${r.decode.tokensPerSecond.toFixed(1)} tokens/s${checked}`);
  } catch (e) {
    demo.generation.last = { error: `${e.name}: ${e.message}` };
    setGenStatus('error', demo.generation.last.error);
  } finally {
    $('generate').disabled = false;
  }
}

function renderGeneration(g) {
  const c = g.config;
  const line = (text, cls = 'env') => Object.assign(document.createElement('div'), { className: cls, textContent: text });
  const where = g.backend === 'cpu' ? `CPU, ${g.info.threads} thread${g.info.threads === 1 ? '' : 's'}` : `WebGPU (${[g.info.vendor, g.info.architecture].filter(Boolean).join(' ') || 'adapter'})`;
  const rows = [
    ['', 'tokens', 'ms', 'tokens/s', 'of which attention'],
    ['prefill', g.prefill.tokens, g.prefill.ms.toFixed(1), g.prefill.tokensPerSecond.toFixed(1), `${g.prefill.attentionMs.toFixed(1)} ms`],
    ['decode', g.decode.steps, g.decode.ms.toFixed(1), g.decode.tokensPerSecond.toFixed(1), `${g.decode.attentionMs.toFixed(1)} ms`],
  ];
  const table = document.createElement('table');
  table.className = 'results';
  table.id = 'gen-table';
  rows.forEach((cells, i) => {
    const tr = table.insertRow();
    for (const cell of cells) tr.appendChild(Object.assign(document.createElement(i === 0 ? 'th' : 'td'), { textContent: String(cell) }));
  });
  const out = [
    line(`${where} · vocab ${c.vocab}, d_model ${c.dModel}, Hq ${c.heads}, Hkv ${c.kvHeads}, D ${c.headDim} · layout block ${c.block}, ${(100 * g.density).toFixed(1)}% kept`),
    table,
    Object.assign(line(`generated: ${g.tokens.join(' ')}`), { id: 'gen-tokens-out' }),
  ];
  if (g.fallback) out.push(line(`WebGPU unavailable (${g.fallback}): ran on the CPU`, 'note'));
  if (g.check) {
    const k = g.check;
    out.push(Object.assign(line(`check: ${k.steps - k.mismatches.length}/${k.steps} steps pick the same token recomputed without the cache (max |Δlogit| ${k.maxLogitDiff.toExponential(2)})`, k.agree ? 'ok' : 'bad'), { id: 'gen-check-out' }));
  }
  $('gen-result').replaceChildren(...out);
}

// ---- start ---------------------------------------------------------------------------------------

async function showEnvironment() {
  const env = $('env');
  const isolated = globalThis.crossOriginIsolated === true;
  const lines = [
    `cross-origin isolated: ${isolated ? 'yes' : 'no'} (${isolated ? 'the CPU engine can use Web Workers' : 'the CPU engine runs on one thread; serve with COOP/COEP for threads'})`,
    `WebGPU: ${navigator.gpu ? 'navigator.gpu present' : 'not in this browser'} · cores: ${navigator.hardwareConcurrency ?? '?'}`,
  ];
  env.replaceChildren(...lines.map((t) => Object.assign(document.createElement('div'), { textContent: t })));
  // float16 where the adapter has shader-f16: the WebGPU engine then runs f16 kernels
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  const f16 = $('dtype').querySelector('option[value=float16]');
  const has = adapter?.features.has('shader-f16') === true;
  f16.disabled = !has;
  f16.textContent = has ? 'float16 (shader-f16)' : `float16 (unavailable: ${adapter ? 'the adapter has no shader-f16' : 'no WebGPU adapter'})`;
}

function start() {
  const select = $('config');
  for (const name of Object.keys(CONFIGS)) select.append(new Option(name, name));
  select.value = 'FixedSparsityConfig';
  select.addEventListener('change', () => {
    renderParams(select.value);
    updateLayout();
  });
  for (const id of ['numHeads', 'block', 'seqLen']) $(id).addEventListener('input', updateLayout);
  $('form').addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  $('gen-form').addEventListener('submit', (e) => {
    e.preventDefault();
    runGeneration();
  });
  $('gen-prompt').value = String(DEFAULTS.prompt);
  $('gen-tokens').value = String(DEFAULTS.tokens);
  $('generate').disabled = false;
  renderParams(select.value);
  showEnvironment();
  demo.ready = true;
  updateLayout();
  setStatus('idle', current ? 'ready' : 'fix the config to run');
}

start();
