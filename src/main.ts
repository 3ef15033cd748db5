#!/usr/bin/env node
// `npm start`, `npx blocksparse`, `deno run -A --unstable-webgpu dist/src/main.js`: the CLI of
// src/cli/. Exits explicitly, since Dawn (npm `webgpu`) can keep Node alive after the GPU run.
import { runCli } from './cli/index.js';
import { hostRuntime } from './cli/runtime.js';

const rt = await hostRuntime();
rt.exit(await runCli(rt.args, rt));
