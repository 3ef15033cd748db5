// The normalised problems of src/backend.ts for the suites that call a backend directly (this
// folder, and test/ops/run.ts for test/deno/ops.test.ts and bench/gpu/check.ts): src/problems.ts, as the engine builds them after validation.
// matmulProblem returns the problem alone (the engine's plan also carries the output shape).
import type { MatmulProblem } from '../../src/backend.js';
import { matmulProblem as matmulPlan } from '../../src/problems.js';
import type { MatmulArgs } from '../../src/types.js';

export { attentionBackwardProblem, attentionProblem, softmaxBackwardProblem, softmaxProblem } from '../../src/problems.js';

export function matmulProblem(a: MatmulArgs): MatmulProblem {
  return matmulPlan(a).problem;
}
