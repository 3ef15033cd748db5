#!/usr/bin/env node
// `npm start`, `npx blocksparse`, `deno run -A --unstable-webgpu dist/cli/main.js`: the bench app
// of cli/. Exits explicitly, since Dawn (npm `webgpu`) can keep Node alive after the GPU run.
import { runCli } from './index.js';
import { hostRuntime } from './runtime.js';

const rt = await hostRuntime();
rt.exit(await runCli(rt.args, rt));
