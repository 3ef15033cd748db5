// `npm test`: every suite, then one closing line `N passed, N failed` that CI reads (uvu prints
// none it recognises). Suites: uvu under Node (test/*.test.ts), Deno (test/deno/, WebGPU on
// whatever adapter Deno finds — lavapipe in CI), and the browser suite when Chromium is present.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const only = process.argv.slice(2); // e.g. `npm test -- node` runs one suite
const want = (name) => only.length === 0 || only.includes(name);

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk, stream) => { out += chunk; stream.write(chunk); };
    child.stdout.on('data', (c) => keep(c, process.stdout));
    child.stderr.on('data', (c) => keep(c, process.stderr));
    child.on('close', (code) => resolve({ code, out: out.replace(/\x1b\[[0-9;]*m/g, '') }));
  });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const add = (suite, passed, failed, skipped = 0) => {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  console.log(`[${suite}] ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
};

if (want('node')) {
  const { code, out } = await run(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', '\\.test\\.ts$', '-i', 'deno', '-i', 'reference/', '-i', 'fixtures']);
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  let failed = total - passed; // uvu's Total counts the tests it ran; skipped ones (test.skip) are apart
  if (code !== 0 && failed === 0) failed = 1; // a file that crashed before counting
  add('node', passed, failed, skipped);
}

const deno = 'node_modules/.bin/deno';
if (want('deno') && existsSync('test/deno') && readdirSync('test/deno').some((f) => f.endsWith('.test.ts'))) {
  if (!existsSync(deno)) {
    add('deno', 0, 1);
    console.log('[deno] node_modules/.bin/deno is missing: run npm install');
  } else {
    // One process per file, so that a native crash in one (Mesa's lavapipe or a worker teardown)
    // cannot hide another file's results.
    const files = readdirSync('test/deno').filter((f) => f.endsWith('.test.ts')).sort();
    let passed = 0, failed = 0, ignored = 0;
    for (const file of files) {
      let r = await runDenoFile(file);
      if (r.crashedAfterPassing) {
        // Seen once in CI: glibc aborted ("corrupted size vs. prev_size") while Deno exited, after
        // every test had passed; not reproduced in 70 local runs. A second run tells a rare exit
        // crash from a real failure; a second crash counts as a failure.
        console.log(`[deno] ${file}: the process crashed (exit ${r.code}) after its tests passed; running it once more`);
        r = await runDenoFile(file);
      }
      passed += r.passed;
      failed += r.failed;
      ignored += r.ignored;
    }
    add('deno', passed, failed, ignored);
  }
}

async function runDenoFile(file) {
  const { code, out } = await run(deno, ['test', '--no-check', '--unstable-webgpu', '--unstable-sloppy-imports', '-A', `test/deno/${file}`], { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', NO_COLOR: '1' });
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored)?/.exec(out);
  const passed = m ? Number(m[1]) : 0;
  let failed = m ? Number(m[3]) : 0;
  const crashedAfterPassing = code !== 0 && m !== null && failed === 0 && /^ok \|/m.test(out);
  if (code !== 0 && failed === 0) failed = 1;
  return { code, passed, failed, ignored: m?.[5] ? Number(m[5]) : 0, crashedAfterPassing };
}

if (want('browser') && existsSync('test/browser/run.mjs')) {
  const { code, out } = await run(process.execPath, ['--import', 'tsx', 'test/browser/run.mjs']);
  const m = /(\d+) passed, (\d+) failed(?:, (\d+) skipped)?/.exec(out.split('\n').filter((l) => /passed, \d+ failed/.test(l)).pop() ?? '');
  let failed = m ? Number(m[2]) : 0;
  if (code !== 0 && failed === 0) failed = 1;
  add('browser', m ? Number(m[1]) : 0, failed, m?.[3] ? Number(m[3]) : 0);
}

// skips on their own line: the last line stays exactly `N passed, N failed`, as CI reads it
if (totals.skipped) console.log(`${totals.skipped} skipped (each suite above says why)`);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed > 0 ? 1 : 0);
