# PyTorch on bench/decode.ts's case, for the side-by-side comparison of issue 15: one decode step,
# one query at the last position against T cached keys, GQA (Hq 32, Hkv 8, enable_gqa), D 128,
# block 64, Phi-3-small's pattern (16 local blocks, vertical stride 8, head sliding step 1) with
# the token-level causal mask. FlexAttention (compiled, the block mask over absolute positions) and
# SDPA's dense decode (one query at the end sees every key: no mask), fp32 with TF32 off, and SDPA
# in fp16 for reference. Run it in the same device call as bench/decode.ts --backend webgpu.
#   python3 bench/gpu/flex_decode.py out.json [T ...]
import json, os, sys
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flex_common import flex, timed

B, HQ, HKV, D, BLOCK = 1, 32, 8, 128, 64
LOCAL, STRIDE, STEP = 16, 8, 1
out_path = sys.argv[1] if len(sys.argv) > 1 else None
contexts = [int(x) for x in sys.argv[2:]] or [4096, 16384, 32768, 131072]

results = []
for T in contexts:
    pos = T - 1  # the query's absolute position

    def mask_mod(b, h, q, kv):
        p = q + pos
        r, c = p // BLOCK, kv // BLOCK
        return (kv <= p) & (((r - c) < LOCAL) | (((c + h * STEP + 1) % STRIDE) == 0))

    rec = {'T': T, 'B': B, 'Hq': HQ, 'Hkv': HKV, 'D': D, 'block': BLOCK, 'torch': torch.__version__}
    q = torch.randn(B, HQ, 1, D, device='cuda')
    k, v = (torch.randn(B, HKV, T, D, device='cuda') for _ in range(2))
    with torch.no_grad():
        try:
            bm = create_block_mask(mask_mod, B=None, H=HQ, Q_LEN=1, KV_LEN=T, BLOCK_SIZE=BLOCK, device='cuda', _compile=True)
            rec['flexFp32Ms'] = timed(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), warm=5, reps=21)[0]
        except Exception as e:  # a compile failure is a result too
            rec['flexFp32Error'] = str(e).split('\n')[0]
        try:
            rec['sdpaDenseFp32Ms'] = timed(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), warm=5, reps=21)[0]
        except Exception as e:
            rec['sdpaDenseFp32Error'] = str(e).split('\n')[0]
        try:
            qh, kh, vh = q.half(), k.half(), v.half()
            rec['sdpaDenseFp16Ms'] = timed(lambda: F.scaled_dot_product_attention(qh, kh, vh, enable_gqa=True), warm=5, reps=21)[0]
        except Exception as e:
            rec['sdpaDenseFp16Error'] = str(e).split('\n')[0]
    results.append(rec)
    print(json.dumps(rec), flush=True)
    del q, k, v
    torch.cuda.empty_cache()
if out_path:
    with open(out_path, 'w') as f:
        json.dump({'results': results}, f, indent=2)
