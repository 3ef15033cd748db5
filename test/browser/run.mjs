// The browser suite: Debian's Chromium, headless, driven by playwright-core, loads the demo page
// (demo/) from demo/serve.mjs three times (cross-origin isolated; not isolated; isolated with
// navigator.gpu hidden), runs attention through the page's form on the CPU engine and on WebGPU
// (SwiftShader's software adapter), and checks:
// - the numbers against the float64 reference of test/reference/, computed here in Node;
// - crossOriginIsolated ⇒ the CPU engine runs on Web Workers (threads > 1); not isolated ⇒ 1 thread,
//   with the reason in engine.info.fallbacks;
// - WebGPU gives an adapter and agrees with float64, or the page states why it could not run;
// - the layout the page draws is the one Node builds from the same config (dist/src);
// - dist/src/index.js imports unbundled in the page (an ES module plus its .wasm, no bundler);
// - the generate panel (examples/tiny-decoder.mjs) decodes over the KV cache on the page's engine
//   (WebGPU with an adapter, else the CPU), agrees with recomputing without the cache, shows
//   tokens/s, and picks the tokens Node's CPU engine picks for the same model;
// - float16 (offered where the adapter has shader-f16; forced on here where not): both engines within
//   the float16 tolerance, the path each took named, and each float16 result compared with float32.
// Screenshots go to test-output/browser/. The last line is `N passed, N failed[, N skipped]`
// (tools/test.mjs); without Chromium the page checks are one skip.
//
//   node --import tsx test/browser/run.mjs   (CHROMIUM=/path/to/chromium to use another browser;
//                                              tsx loads test/reference/, which is TypeScript)
//
// Bounded: every wait has a timeout, a watchdog ends the run, and the servers and the browser are
// closed on every path.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceAttention } from '../reference/index.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outDir = join(root, 'test-output/browser');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const WATCHDOG_MS = 150_000;
const RUN_TIMEOUT_MS = 90_000;
const CPU_TOL = { atol: 5e-5, rtol: 5e-4 };
const GPU_TOL = { atol: 1e-4, rtol: 1e-3 };

// Chromium flags. WebGPU: --enable-unsafe-webgpu turns it on for Linux, and
// --use-webgpu-adapter=swiftshader gives a software adapter with no GPU or display (tried here:
// SwiftShader answers requestAdapter() headless; lavapipe through ANGLE/Vulkan is not needed).
// The rest keep a test browser quiet and offline.
const ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-dev-shm-usage',
];

// ---- results -----------------------------------------------------------------------------------

const results = [];
function record(name, ok, detail = '') {
  results.push({ name, ok });
  console.log(`${ok ? '✔' : '✘'} ${name}${detail ? ` — ${detail}` : ''}`);
}
async function check(name, fn) {
  try {
    const detail = await fn();
    record(name, true, typeof detail === 'string' ? detail : '');
    return true;
  } catch (e) {
    record(name, false, e instanceof Error ? e.message : String(e));
    return false;
  }
}
function assert(ok, message) {
  if (!ok) throw new Error(message);
}
/** A check that cannot run here: counted as skipped (tools/test.mjs), never as passed. */
const skipped = [];
function skip(name, reason) {
  skipped.push(name);
  console.log(`- ${name} — skipped: ${reason}`);
}
function summary() {
  const passed = results.filter((r) => r.ok).length;
  return `${passed} passed, ${results.length - passed} failed${skipped.length ? `, ${skipped.length} skipped` : ''}`;
}

// ---- cleanup -----------------------------------------------------------------------------------

const servers = new Set();
let context;
let userDataDir;
async function cleanup() {
  const ctx = context;
  context = undefined;
  if (ctx) await Promise.race([ctx.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
  for (const child of servers) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  servers.clear();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
  userDataDir = undefined;
}

const watchdog = setTimeout(async () => {
  record(`the suite finished within ${WATCHDOG_MS / 1000} s`, false, 'watchdog fired');
  await cleanup();
  console.log(summary());
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await cleanup();
    process.exit(130);
  });
}

// ---- helpers -----------------------------------------------------------------------------------

/** Starts demo/serve.mjs on a free port; resolves to its demo URL. */
function startServer(isolation) {
  return new Promise((resolve, reject) => {
    const args = [join(root, 'demo/serve.mjs'), '--port', '0', '--quiet', ...(isolation ? [] : ['--no-isolation'])];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    servers.add(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`demo/serve.mjs printed no URL within 10 s: ${out}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo/serve.mjs exited with ${code}: ${out}`));
    });
  });
}

/** Fills the demo's form and runs; resolves to window.blocksparseDemo.last. */
async function runDemo(page, { config, numHeads, block, seqLen, headDim, batch = 1, params = {}, causal, threads, reps = 2 }) {
  await page.waitForFunction(() => window.blocksparseDemo?.ready === true, null, { timeout: 30_000 });
  await page.selectOption('#config', config);
  await page.fill('#numHeads', String(numHeads));
  await page.fill('#block', String(block));
  await page.fill('#seqLen', String(seqLen));
  await page.fill('#headDim', String(headDim));
  await page.fill('#batch', String(batch));
  for (const [name, value] of Object.entries(params)) {
    const sel = `#p-${name}`;
    if (typeof value === 'boolean') await page.setChecked(sel, value);
    else if ((await page.$eval(sel, (el) => el.tagName)) === 'SELECT') await page.selectOption(sel, String(value));
    else await page.fill(sel, String(value));
  }
  await page.setChecked('#causal', causal);
  await page.selectOption('#threads', threads);
  await page.fill('#reps', String(reps));
  const layoutError = await page.textContent('#layout-error');
  assert(!layoutError, `the page rejected the config: ${layoutError}`);
  await page.click('#run', { timeout: 10_000 });
  await page.waitForFunction(() => ['done', 'error'].includes(window.blocksparseDemo?.state), null, { timeout: RUN_TIMEOUT_MS });
  const last = await page.evaluate(() => window.blocksparseDemo.last);
  assert(last && !last.error, `the run failed in the page: ${last?.error ?? 'no result'}`);
  return last;
}

/**
 * Float64 attention (test/reference/) of plain-array inputs [B, H, N, D] and layout data [H, N/block, N/block].
 * @param {{ B: number, H: number, N: number, D: number, block: number, layout: ArrayLike<number>, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, causal: boolean }} c
 */
function denseAttention64({ B, H, N, D, block, layout, q, k, v, causal }) {
  const shape = [B, H, N, D];
  const nb = N / block;
  return referenceAttention({
    q: { data: q, shape },
    k: { data: k, shape },
    v: { data: v, shape },
    layout: { block, shape: [H, nb, nb], data: layout },
    causal,
  });
}

/** The worst |got − ref| relative to atol + rtol·|ref| (≤ 1 passes), with where it is. */
function worstError(got, ref, atol, rtol) {
  if (!got || got.length !== ref.length) return { ratio: Infinity, index: -1, got: got?.length, ref: ref.length, message: `length ${got?.length} ≠ ${ref.length}` };
  let worst = { ratio: 0, index: -1, got: 0, ref: 0 };
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const ratio = typeof g === 'number' && Number.isFinite(g) ? Math.abs(g - ref[i]) / (atol + rtol * Math.abs(ref[i])) : Infinity;
    if (ratio > worst.ratio) worst = { ratio, index: i, got: g, ref: ref[i] };
  }
  worst.message = `worst at [${worst.index}]: got ${worst.got}, float64 ${worst.ref} (${worst.ratio.toFixed(3)}× the tolerance)`;
  return worst;
}

function referenceFor(last) {
  const { B, H, seqLen: N, D, causal } = last.params;
  return denseAttention64({ B, H, N, D, block: last.layout.block, layout: last.layout.data, q: last.q, k: last.k, v: last.v, causal });
}

async function nodeLayout(config, options, seqLen) {
  const dist = join(root, 'dist/src/index.js');
  assert(existsSync(dist), 'dist/src/index.js is missing: run npm run build');
  const m = await import(new URL('../../dist/src/index.js', import.meta.url).href);
  return new m[config](options).makeLayout(seqLen);
}

/** Fills the demo's generate panel and runs it; resolves to window.blocksparseDemo.generation.last. */
async function runGenerate(page, { prompt, tokens, heads = '8/2', check = true }) {
  await page.fill('#gen-prompt', String(prompt));
  await page.fill('#gen-tokens', String(tokens));
  await page.selectOption('#gen-heads', heads);
  await page.setChecked('#gen-check', check);
  await page.click('#generate', { timeout: 10_000 });
  await page.waitForFunction(() => ['done', 'error'].includes(window.blocksparseDemo?.generation?.state), null, { timeout: RUN_TIMEOUT_MS });
  const last = await page.evaluate(() => window.blocksparseDemo.generation.last);
  assert(last && !last.error, `the generation failed in the page: ${last?.error ?? 'no result'}`);
  return last;
}

/** The same model and prompt generated in Node on the CPU engine, through dist/src and examples/. */
async function nodeGeneration(options) {
  const bs = await import(new URL('../../dist/src/index.js', import.meta.url).href);
  const { createTinyDecoder, generate, randomPrompt } = await import(new URL('../../examples/tiny-decoder.mjs', import.meta.url).href);
  const engine = await bs.createEngine({ backend: 'cpu', threads: 1 });
  try {
    const model = createTinyDecoder(bs, engine, options);
    return await generate(model, { prompt: randomPrompt(model.config.prompt, model.config.vocab, model.config.seed) });
  } finally {
    await engine.close();
  }
}

/** The gap between the two largest values. */
function topTwoGap(a) {
  const [first, second] = [...a].sort((x, y) => y - x);
  return first - second;
}

// ---- the suite ---------------------------------------------------------------------------------

async function main() {
  mkdirSync(outDir, { recursive: true });

  const built = await check('the browser bundle builds (tools/build-browser.mjs)', async () => {
    const { build } = await import('../../tools/build-browser.mjs');
    const files = await build({ quiet: true });
    for (const f of ['dist/browser/blocksparse.js', 'dist/browser/blocksparse.simd.wasm', 'dist/browser/blocksparse.relaxed.wasm']) {
      assert(files.includes(f), `${f} was not written`);
    }
    return files.filter((f) => !f.endsWith('.map')).join(', ');
  });
  if (!built) return;

  let chromium;
  if (!existsSync(CHROMIUM)) {
    // No browser on this machine: the page checks cannot run, and say so rather than pass.
    skip('the browser suite (the demo page in Chromium)', `${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM)`);
    return;
  }
  const launchable = await check('playwright-core is present', async () => {
    ({ chromium } = await import('playwright-core').catch((e) => {
      throw new Error(`playwright-core did not load (npm install): ${e.message}`);
    }));
    return CHROMIUM;
  });
  if (!launchable) return;

  userDataDir = mkdtempSync(join(tmpdir(), 'blocksparse-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 1000 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(30_000);
  const version = context.browser()?.version() ?? '';

  // The third mode hides navigator.gpu before the page's scripts run: the page must say that
  // WebGPU is unavailable and still compute on the CPU.
  const modes = [
    { name: 'isolated', file: 'isolated', isolated: true, hideGpu: false },
    { name: 'not isolated', file: 'not-isolated', isolated: false, hideGpu: false },
    { name: 'isolated, no WebGPU', file: 'no-webgpu', isolated: true, hideGpu: true },
  ];
  const urls = new Map();
  for (const { name: mode, file, isolated, hideGpu } of modes) {
    let url = urls.get(isolated);
    if (!url) {
      const served = await check(`[${mode}] demo/serve.mjs${isolated ? '' : ' --no-isolation'} serves the page`, async () => {
        url = await startServer(isolated);
        urls.set(isolated, url);
        return url;
      });
      if (!served) continue;
    }

    const page = await context.newPage();
    if (hideGpu) await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));

    const loaded = await check(`[${mode}] the page loads and reports its isolation`, async () => {
      await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
      await page.waitForFunction(() => window.blocksparseDemo?.ready === true, null, { timeout: 30_000 });
      const coi = await page.evaluate(() => globalThis.crossOriginIsolated);
      assert(coi === isolated, `crossOriginIsolated is ${coi}, expected ${isolated}`);
      const svg = await page.$('#layout svg');
      assert(svg, 'no layout drawing (#layout svg)');
      return `crossOriginIsolated ${coi}, ${version}`;
    });
    if (!loaded) {
      await page.screenshot({ path: join(outDir, `${file}-failed.png`) }).catch(() => {});
      await page.close();
      continue;
    }

    // Different configs per mode: unidirectional + causal, bidirectional, a sliding window.
    const setting = {
      isolated: { config: 'FixedSparsityConfig', options: { numLocalBlocks: 4, numGlobalBlocks: 1, attention: 'unidirectional' }, causal: true, threads: 'auto' },
      'not-isolated': { config: 'BigBirdSparsityConfig', options: { numRandomBlocks: 1, numSlidingWindowBlocks: 3, numGlobalBlocks: 1, attention: 'bidirectional' }, causal: false, threads: '2' },
      'no-webgpu': { config: 'LocalSlidingWindowSparsityConfig', options: { numSlidingWindowBlocks: 3, attention: 'unidirectional' }, causal: true, threads: 'auto' },
    }[file];
    const shape = { numHeads: 2, block: 16, seqLen: 128, headDim: 32 };
    let last;
    const ran = await check(`[${mode}] ${setting.config} runs on the CPU and WebGPU from the page's form`, async () => {
      last = await runDemo(page, { ...shape, config: setting.config, params: setting.options, causal: setting.causal, threads: setting.threads });
      return `CPU ${last.cpu.ms.toFixed(2)} ms, WebGPU ${last.gpu.ms !== undefined ? `${last.gpu.ms.toFixed(2)} ms` : last.gpu.error}`;
    });

    if (ran) {
      await check(`[${mode}] the page's layout is the one Node builds from the same config`, async () => {
        const layout = await nodeLayout(setting.config, { numHeads: shape.numHeads, block: shape.block, ...setting.options }, shape.seqLen);
        assert(JSON.stringify(last.layout.shape) === JSON.stringify(layout.shape), `shape ${JSON.stringify(last.layout.shape)} ≠ ${JSON.stringify(layout.shape)}`);
        const differ = last.layout.data.findIndex((x, i) => x !== layout.data[i]);
        assert(differ < 0, `the layouts differ at cell ${differ}`);
        return `${layout.data.reduce((a, b) => a + b, 0)} kept blocks`;
      });

      const ref = referenceFor(last);
      await check(`[${mode}] CPU output matches float64 (5e-5 + 5e-4·|ref|)`, async () => {
        const w = worstError(last.cpu.out, ref, CPU_TOL.atol, CPU_TOL.rtol);
        assert(w.ratio <= 1, w.message);
        return `${ref.length} values, ${w.message}`;
      });

      await check(`[${mode}] ${isolated ? 'isolated ⇒ CPU threads > 1 on Web Workers' : 'not isolated ⇒ 1 thread, and info.fallbacks says why'}`, async () => {
        const { threads, fallbacks } = last.cpu.info;
        const cores = await page.evaluate(() => navigator.hardwareConcurrency);
        if (isolated) {
          assert(cores > 1 ? threads > 1 : threads === 1, `engine.info.threads is ${threads} on ${cores} cores (fallbacks: ${JSON.stringify(fallbacks)})`);
        } else {
          assert(threads === 1, `engine.info.threads is ${threads}, expected 1`);
          assert(
            fallbacks.some((f) => /isolat/i.test(f)),
            `asked for 2 threads, got 1, but engine.info.fallbacks does not mention cross-origin isolation: ${JSON.stringify(fallbacks)}`,
          );
        }
        return `threads ${threads} (${cores} cores), simd ${last.cpu.info.simd}${fallbacks.length ? `, fallbacks: ${fallbacks.join('; ')}` : ''}`;
      });

      await check(`[${mode}] WebGPU matches float64 (1e-4 + 1e-3·|ref|), or the page says why it did not run`, async () => {
        const hasAdapter = await page.evaluate(async () => (await navigator.gpu?.requestAdapter()) != null);
        if (!hasAdapter) {
          assert(last.gpu.error && /adapter|webgpu/i.test(last.gpu.error), `no adapter, and the page's WebGPU error does not say so: ${last.gpu.error}`);
          const shown = await page.textContent('#results');
          assert(/unavailable|adapter/i.test(shown ?? ''), 'the results table does not show WebGPU as unavailable');
          return `no adapter in this browser: fallback shown (${last.gpu.error})`;
        }
        assert(last.gpu.out, `an adapter exists but the WebGPU run failed: ${last.gpu.error}`);
        const w = worstError(last.gpu.out, ref, GPU_TOL.atol, GPU_TOL.rtol);
        assert(w.ratio <= 1, w.message);
        const { vendor, architecture } = last.gpu.info;
        return `adapter ${[vendor, architecture].filter(Boolean).join(' ') || '(unnamed)'}; ${w.message}; max |CPU − GPU| ${last.maxDiff?.toExponential(2)}`;
      });

      await check(`[${mode}] the page shows both times, a chart and the max difference`, async () => {
        const bars = await page.$$('#chart svg rect');
        assert(bars.length >= 2, `the chart has ${bars.length} bars`);
        const diff = (await page.textContent('#diff')) ?? '';
        assert(last.gpu.out ? /Max \|CPU − WebGPU\|.*\d/.test(diff) : /n\/a/.test(diff), `the difference line reads '${diff}'`);
        const rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.textContent));
        assert(rows.length === 2, `${rows.length} result rows`);
        return last.gpu.out ? `max |CPU − WebGPU| shown: ${await page.textContent('#max-diff')}` : diff.trim();
      });
    }

    if (ran && !hideGpu) {
      await check(`[${mode}] float16 is offered where the adapter has shader-f16; both engines then match float64 within the float16 tolerance, say which path ran and compare with float32`, async () => {
        await page.waitForFunction(() => !/checking/.test(document.querySelector('#dtype option[value=float16]').textContent), null, { timeout: 30_000 });
        const has = await page.evaluate(async () => (await navigator.gpu?.requestAdapter())?.features.has('shader-f16') === true);
        const option = await page.$eval('#dtype option[value=float16]', (o) => ({ disabled: o.disabled, text: o.textContent }));
        assert(option.disabled === !has, `shader-f16 ${has}, but the float16 option is ${option.disabled ? 'disabled' : 'enabled'} (${option.text})`);
        assert(has || /no shader-f16/.test(option.text), `the disabled float16 option does not say why: '${option.text}'`);
        // without shader-f16 the option is enabled here anyway: the page's float16 code then runs on both engines' conversion path
        if (!has) await page.$eval('#dtype option[value=float16]', (o) => (o.disabled = false));
        await page.selectOption('#dtype', 'float16');
        let half;
        try {
          half = await runDemo(page, { ...shape, config: setting.config, params: setting.options, causal: setting.causal, threads: setting.threads });
        } finally {
          await page.selectOption('#dtype', 'float32');
        }
        // API.md's float16 tolerance against float64 of the half values (the page keeps those as q, k, v)
        const ref = referenceFor(half);
        const max = ref.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        const worst = [half.cpu.out, half.gpu.out].map((got) => worstError(got, ref, 2e-3 * max, 5e-3));
        for (const w of worst) assert(w.ratio <= 1, w.message);
        const rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.textContent));
        const gpuPath = has ? /float16: (f16 shaders|subgroup matrices)/ : /float16: converted to float32 .*no shader-f16/;
        assert(/float16: converted to float32/.test(rows[0]) && gpuPath.test(rows[1]), `the rows do not name the float16 paths: ${JSON.stringify(rows)}`);
        // where the engine names its kernels, the row says which ran
        for (const [i, r] of [half.cpu, half.gpu].entries()) {
          if (r.ran?.length) assert(rows[i].includes(`ran ${r.ran.join(', ')}`), `row ${i} does not say which kernels ran (${r.ran}): ${rows[i]}`);
        }
        // each engine's float16 result against its float32 result on the unrounded draws: that float32
        // result within the float32 tolerance of float64, the page's max |Δ| the one computed here from
        // its arrays, above 0 (a float16 result, not float32's again) and within what rounding q, k, v
        // and out to float16 can cost (loose: 1e-2 of the largest |out|)
        const { B, H, seqLen: N, D, causal } = half.params;
        const ref32 = denseAttention64({ B, H, N, D, block: half.layout.block, layout: half.layout.data, ...half.drawn, causal });
        const max32 = ref32.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        const text = (await page.textContent('#vs-float32')) ?? '';
        const compared = [['CPU', half.cpu, CPU_TOL], ['WebGPU', half.gpu, GPU_TOL]].map(([name, r, tol]) => {
          assert(r.float32, `${name}: no float32 result beside the float16 one`);
          const w = worstError(r.float32.out, ref32, tol.atol, tol.rtol);
          assert(w.ratio <= 1, `${name} float32 on the unrounded draws: ${w.message}`);
          let d = 0;
          for (let i = 0; i < ref32.length; i++) d = Math.max(d, Math.abs(r.out[i] - r.float32.out[i]));
          assert(d === r.float32.maxDiff, `${name}: the page says max |float16 − float32| ${r.float32.maxDiff}, the arrays give ${d}`);
          assert(d > 0 && d <= 1e-2 * max32, `${name}: max |float16 − float32| ${d} (largest |out| ${max32.toFixed(3)})`);
          assert(text.includes(`${name} ${d.toExponential(2)}`), `the page's float16-against-float32 line reads '${text}'`);
          return `${name} ${d.toExponential(2)}`;
        });
        await page.$eval('#dtype option[value=float16]', (o, d) => (o.disabled = d), !has);
        return `${has ? '' : `no shader-f16 (the option reads '${option.text}'), forced on: `}CPU ${worst[0].message}; WebGPU ${worst[1].message}; ${half.gpu.info.float16Ops.attention}; against float32 ${compared.join(', ')}`;
      });
    }

    if (isolated && !hideGpu) {
      await check('[isolated] dist/src/index.js imports unbundled in the page and computes on 2 Web Workers', async () => {
        assert(existsSync(join(root, 'dist/src/index.js')), 'dist/src/index.js is missing: run npm run build');
        const got = await page.evaluate(async () => {
          const m = await import('/dist/src/index.js');
          const B = 1, H = 2, N = 64, D = 16, block = 16, nb = N / block;
          const layout = m.layoutFromMask(H, nb, (h, r, c) => c <= r && (h === 0 || r - c < 2), block);
          let s = 12345;
          const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
          const t = () => ({ data: Float32Array.from({ length: B * H * N * D }, rand), shape: [B, H, N, D] });
          const q = t(), k = t(), v = t();
          const engine = await m.createEngine({ backend: 'cpu', threads: 2 });
          try {
            const out = await engine.attention({ q, k, v, layout, causal: true });
            return { B, H, N, D, block, layout: Array.from(layout.data), q: Array.from(q.data), k: Array.from(k.data), v: Array.from(v.data), out: Array.from(out.data), info: engine.info };
          } finally {
            await engine.close();
          }
        });
        assert(got.info.threads === 2, `engine.info.threads is ${got.info.threads} (fallbacks: ${JSON.stringify(got.info.fallbacks)})`);
        const ref = denseAttention64({ ...got, causal: true });
        const w = worstError(got.out, ref, CPU_TOL.atol, CPU_TOL.rtol);
        assert(w.ratio <= 1, w.message);
        return `threads ${got.info.threads}, simd ${got.info.simd}; ${w.message}`;
      });
    }

    if (file !== 'not-isolated') {
      const gen = { prompt: 37, tokens: 8, heads: 8, kvHeads: 2 };
      await check(`[${mode}] the generate panel decodes over the KV cache on the page's engine and agrees with recomputing without it`, async () => {
        const hasAdapter = await page.evaluate(async () => (await navigator.gpu?.requestAdapter()) != null);
        const g = await runGenerate(page, { prompt: gen.prompt, tokens: gen.tokens, heads: `${gen.heads}/${gen.kvHeads}` });
        assert(g.backend === (hasAdapter ? 'webgpu' : 'cpu'), `ran on ${g.backend}, with${hasAdapter ? '' : 'out'} an adapter`);
        if (!hasAdapter) assert(g.fallback && /unavailable/i.test((await page.textContent('#gen-result')) ?? ''), 'no adapter, and the panel does not say WebGPU was unavailable');
        assert(g.tokens.length === gen.tokens, `${g.tokens.length} tokens`);
        assert(g.check?.agree, `cached and recomputed tokens differ: ${JSON.stringify(g.check?.mismatches)}`);
        const table = (await page.textContent('#gen-table')) ?? '';
        assert(/tokens\/s/.test(table) && /prefill/.test(table) && /decode/.test(table), `the panel's table reads '${table}'`);
        const ref = await nodeGeneration(gen);
        const differ = ref.tokens.findIndex((t, i) => t !== g.tokens[i]);
        // WebGPU agrees with the CPU within its tolerance: only a near tie may pick another token
        if (differ >= 0) {
          const gap = topTwoGap(ref.logits[differ]);
          assert(g.backend === 'webgpu' && gap < 2e-3, `step ${differ}: the page picked ${g.tokens[differ]}, Node's CPU ${ref.tokens[differ]} (top-2 gap ${gap})`);
        }
        return `${g.backend}: prefill ${g.prefill.tokensPerSecond.toFixed(0)} tokens/s, decode ${g.decode.tokensPerSecond.toFixed(1)} tokens/s; ${differ < 0 ? "the tokens Node's CPU picks" : `a near tie at step ${differ}`}`;
      });
    }

    await check(`[${mode}] no page errors, console errors or failed requests`, async () => {
      assert(problems.length === 0, problems.slice(0, 5).join(' | '));
    });

    const shot = join(outDir, `${file}.png`);
    await page.screenshot({ path: shot, fullPage: true, timeout: 20_000 }).then(
      () => console.log(`  screenshot: ${shot.slice(root.length)}`),
      (e) => console.log(`  (screenshot failed: ${e.message})`),
    );
    await page.close();
  }
}

try {
  await main();
} catch (e) {
  record('the suite ran to the end', false, e instanceof Error ? e.stack ?? e.message : String(e));
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
console.log(summary());
process.exit(results.some((r) => !r.ok) ? 1 : 0);
