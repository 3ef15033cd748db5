// Is there a WebGPU adapter? Asked before the CPU runs, only to share the time budget fairly; the
// probe (src/probe.ts) never requests a device. The WebGPU engine itself is created after the CPU
// runs, and closed before the report.
import { probeAdapter, type AdapterProbe } from '../src/probe.js';

/** `quiet`: Dawn's native warnings come back as words in the reason, not as raw lines on stderr. */
export const probeGpuAdapter = (): Promise<AdapterProbe> => probeAdapter({ timeoutMs: 5000, quiet: true });
