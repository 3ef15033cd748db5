# PyTorch on the GPU machine's CPU, on bench/gqa.ts's case, for issue 14's CPU comparison: GQA
# (Hq 32, Hkv 8, enable_gqa), D 128, block 64, Phi-3-small's pattern (16 local blocks, vertical
# stride 8, head sliding step 1) with the token-level causal mask, forward only (FlexAttention has
# no CPU backward), fp32: FlexAttention compiled for the CPU and SDPA dense causal. One thread count
# per process: PyTorch 2.11 there aborted with heap corruption when attention ran on more than one
# thread in one process, so run this once per count and keep what each run says.
#   python3 bench/gpu/flex_cpu.py out.json THREADS [N ...]
import json, os, statistics, sys, time
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

out_path = sys.argv[1]
threads = int(sys.argv[2])
seqs = [int(x) for x in sys.argv[3:]] or [8192]
torch.set_num_threads(threads)
B, HQ, HKV, D, BLOCK = 1, 32, 8, 128, 64
LOCAL, STRIDE, STEP = 16, 8, 1


def timed(fn, warm, reps):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


results = []
for N in seqs:
    def mask_mod(b, h, q, kv):
        r, c = q // BLOCK, kv // BLOCK
        return (kv <= q) & (((r - c) < LOCAL) | (((c + h * STEP + 1) % STRIDE) == 0))
    rec = {'N': N, 'threads': threads, 'B': B, 'Hq': HQ, 'Hkv': HKV, 'D': D, 'block': BLOCK, 'torch': torch.__version__,
           'cpu': os.popen("lscpu | grep 'Model name'").read().strip()}
    q = torch.randn(B, HQ, N, D)
    k, v = (torch.randn(B, HKV, N, D) for _ in range(2))
    with torch.no_grad():
        try:
            bm = create_block_mask(mask_mod, B=None, H=HQ, Q_LEN=N, KV_LEN=N, BLOCK_SIZE=BLOCK, device='cpu')
            flex = torch.compile(flex_attention, dynamic=False)
            rec['flexForwardMs'] = timed(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), warm=1, reps=3 if threads > 2 else 1)
        except Exception as e:  # a compile failure is a result too
            rec['flexError'] = str(e).split('\n')[0][:300]
        try:
            rec['sdpaDenseCausalMs'] = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), warm=1 if threads > 2 else 0, reps=3 if threads > 2 else 1)
        except Exception as e:
            rec['sdpaError'] = str(e).split('\n')[0][:300]
    results.append(rec)
    print(json.dumps(rec), flush=True)
with open(out_path, 'w') as f:
    json.dump({'results': results}, f, indent=2)
