// src/probe.ts: what the runtime offers, each "no" with its reason. Node 20+ has SIMD, relaxed SIMD
// (behind a flag the probe sets), and threads; the adapter depends on the machine, so its test
// checks the shape of the answer and, where Dawn is installed, that Dawn's native warnings come
// back as words instead of on stderr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import {
  crossOriginIsolation, describeDawnLog, findGPU, probeAdapter, relaxedSimdSupported, simdSupported, threadsSupport,
} from '../src/probe.js';

test('SIMD, relaxed SIMD (with Node 20\'s flag) and threads in Node', async () => {
  assert.ok(simdSupported());
  assert.ok(await relaxedSimdSupported());
  assert.equal(await threadsSupport(), { ok: true });
  assert.is(crossOriginIsolation(), undefined, 'Node has no cross-origin isolation to report');
});

test('Dawn\'s native warnings in words', () => {
  const lavapipe = 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n - While initializing adapter (backend=BackendType::Vulkan)\n';
  assert.match(describeDawnLog(lavapipe)!, /refused it: it lacks the shader\*ArrayDynamicIndexing features/);
  assert.match(describeDawnLog('Warning: vkCreateInstance: Found no drivers!\n')!, /no Vulkan driver/);
  assert.is(describeDawnLog('Warning: something new\n'), 'Dawn said: something new');
  assert.is(describeDawnLog(''), undefined);
});

let dawn: string | null = null;
try {
  dawn = createRequire(import.meta.url).resolve('webgpu');
} catch {
  dawn = null;
}

test('probeAdapter answers, with a reason when there is no adapter', async () => {
  const got = await probeAdapter({ timeoutMs: 10000, quiet: true });
  if (got.available) assert.ok(got.description.length > 0 && got.source.length > 0);
  else assert.ok(got.reason.length > 0, JSON.stringify(got));
  if (!dawn) {
    assert.match((got as { reason: string }).reason, /'webgpu' did not load/);
    console.log('  skip: the quiet probe under Dawn (the optional webgpu package is not installed)');
  }
});

test('the quiet probe prints nothing of Dawn\'s and names what it found (no Vulkan driver)', () => {
  if (!dawn) return console.log('  skip: the optional webgpu package is not installed');
  // a child with every Vulkan driver hidden: Dawn's "Found no drivers" must not reach stderr
  const code = `import { probeAdapter } from ${JSON.stringify(new URL('../src/probe.ts', import.meta.url).href)};
console.log(JSON.stringify(await probeAdapter({ timeoutMs: 10000, quiet: true })));`;
  const out = execFileSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], {
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const got = JSON.parse(out) as { available: boolean; reason?: string };
  assert.is(got.available, false);
  assert.match(got.reason!, /Dawn found no Vulkan driver/);
});

test('findGPU in Node without navigator.gpu: Dawn, or an Error naming the missing package', async () => {
  try {
    const found = await findGPU();
    assert.is(found.source, 'webgpu (Dawn for Node)');
  } catch (e) {
    assert.match((e as Error).message, /^blocksparse: backend 'webgpu': no adapter was found: .*'webgpu' did not load/);
  }
});

test.run();
