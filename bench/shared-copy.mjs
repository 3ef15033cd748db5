// Why the arena copies bytes out of shared memory as 8-byte words (src/cpu/arena.ts takeU8): V8
// copies out of a SharedArrayBuffer element by element, so the element size sets the speed.
// Prints µs per 16 KiB copy (a 128k decode step's selected rows) for each way tried.
//   node bench/shared-copy.mjs
const mem = new WebAssembly.Memory({ initial: 4096, maximum: 65536, shared: true });
const N = 16384, R = 5000;
function bench(name, f) { for (let i = 0; i < 200; i++) f(); const t0 = performance.now(); for (let i = 0; i < R; i++) f(); console.log(name.padEnd(28), ((performance.now() - t0) / R * 1000).toFixed(3), 'us'); }
bench('u8 set', () => { const out = new Uint8Array(N); out.set(new Uint8Array(mem.buffer, 65536, N)); return out; });
bench('f64 set', () => { const out = new Uint8Array(N); new Float64Array(out.buffer).set(new Float64Array(mem.buffer, 65536, N / 8)); return out; });
bench('i32 loop', () => { const out = new Uint8Array(N); const d = new Int32Array(out.buffer), s = new Int32Array(mem.buffer, 65536, N / 4); for (let i = 0; i < s.length; i++) d[i] = s[i]; return out; });
bench('f64 loop', () => { const out = new Uint8Array(N); const d = new Float64Array(out.buffer), s = new Float64Array(mem.buffer, 65536, N / 8); for (let i = 0; i < s.length; i++) d[i] = s[i]; return out; });
bench('u8 slice', () => new Uint8Array(mem.buffer, 65536, N).slice());
bench('f32 set 16K floats', () => { const out = new Float32Array(N); out.set(new Float32Array(mem.buffer, 65536, N)); return out; });
bench('f32 via f64 set 16K floats', () => { const out = new Float32Array(N); new Float64Array(out.buffer).set(new Float64Array(mem.buffer, 65536, N / 2)); return out; });
