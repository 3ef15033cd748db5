# PyTorch FlexAttention on bench/gqa.ts's case, for the side-by-side comparison of issue 14: GQA
# (Hq 32, Hkv 8, enable_gqa), D 128, block 64, Phi-3-small's pattern (Phi3SmallSparsityConfig's
# defaults: 16 local blocks, vertical stride 8, head sliding step 1) with the token-level causal
# mask; fp32 with TF32 off. Run it in the same device call as bench/gqa.ts --backend webgpu.
#   python3 bench/gpu/flex_gqa.py out.json [N ...]
# Medians of CUDA-event timings after warm-up; compiled flex_attention, as PyTorch recommends.
import json, os, sys
import torch
from torch.nn.attention.flex_attention import create_block_mask
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flex_common import flex, timed

B, HQ, HKV, D, BLOCK = 1, 32, 8, 128, 64
LOCAL, STRIDE, STEP = 16, 8, 1
out_path = sys.argv[1] if len(sys.argv) > 1 else None
seqs = [int(x) for x in sys.argv[2:]] or [8192, 32768]

results = []
for N in seqs:
    def mask_mod(b, h, q, kv):
        r, c = q // BLOCK, kv // BLOCK
        return (kv <= q) & (((r - c) < LOCAL) | (((c + h * STEP + 1) % STRIDE) == 0))
    bm = create_block_mask(mask_mod, B=None, H=HQ, Q_LEN=N, KV_LEN=N, BLOCK_SIZE=BLOCK, device='cuda', _compile=True)
    q = torch.randn(B, HQ, N, D, device='cuda', requires_grad=True)
    k, v = (torch.randn(B, HKV, N, D, device='cuda', requires_grad=True) for _ in range(2))
    do = torch.randn(B, HQ, N, D, device='cuda')
    rec = {'N': N, 'B': B, 'Hq': HQ, 'Hkv': HKV, 'D': D, 'block': BLOCK, 'dtype': 'fp32', 'torch': torch.__version__}
    try:
        with torch.no_grad():
            rec['forwardMs'] = timed(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), warm=3, reps=9)[0]
        def fb():
            o = flex(q, k, v, block_mask=bm, enable_gqa=True)
            o.backward(do)
        rec['forwardBackwardMs'] = timed(fb, warm=3, reps=9)[0]
    except Exception as e:  # an out-of-memory or compile failure is a result too
        rec['error'] = str(e).split('\n')[0]
    results.append(rec)
    print(json.dumps(rec), flush=True)
    del q, k, v, do, bm
    torch.cuda.empty_cache()
if out_path:
    with open(out_path, 'w') as f:
        json.dump({'results': results}, f, indent=2)
