// A workgroup's exclusive prefix sum of one u32 a thread, as WGSL: the threads in √WG runs of √WG,
// each run summed by one thread, then each thread adds the runs before its own and its run's
// values before it. Three barriers, where a Hillis–Steele scan takes two per doubling (16 for 256
// threads): the selection's kernels are bound by their barriers, not their arithmetic.

/** `fn exclusiveScan(v: u32, lid: u32) -> vec2<u32>`: (the sum of v over threads before lid, the total), for WG = R² threads; call it in uniform control flow. */
export function exclusiveScanWGSL(wg: number): string {
  const run = Math.round(Math.sqrt(wg));
  if (run * run !== wg) throw new RangeError(`exclusiveScanWGSL: workgroup size must be a square, got ${wg}`);
  return `var<workgroup> scanValues: array<u32, ${wg}>;
var<workgroup> scanRuns: array<u32, ${run}>;

fn exclusiveScan(v: u32, lid: u32) -> vec2<u32> {
  scanValues[lid] = v;
  workgroupBarrier();
  if (lid < ${run}u) {
    var a = 0u;
    for (var i = 0u; i < ${run}u; i++) { a += scanValues[lid * ${run}u + i]; }
    scanRuns[lid] = a;
  }
  workgroupBarrier();
  let mine = lid / ${run}u;
  var before = 0u;
  var total = 0u;
  for (var j = 0u; j < ${run}u; j++) {
    let r = scanRuns[j];
    if (j < mine) { before += r; }
    total += r;
  }
  for (var i = mine * ${run}u; i < lid; i++) { before += scanValues[i]; }
  // the next call writes both arrays again
  workgroupBarrier();
  return vec2<u32>(before, total);
}`;
}
