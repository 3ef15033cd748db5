#!/usr/bin/env bash
# Everything issues 5 and 6 still need from the GPU machine (H100, 16 cores), in as few device calls
# as possible. Here, once:
#   npm ci && npm run build                      # npm ci drops the on-demand ORT peers: .device stays < 64 MiB
#   (the workplace's device preparation, not in this repository: node, Vulkan loader, slim node_modules, setup.sh -> .device/)
#   bash bench/gpu/bundle.sh                     # .device/gpu/{check,attention,probe-subgroup-matrix,transfers}.mjs, webgpu.tar.xz
#   node tools/device/bundle-bench.mjs bench/threads.ts bench/gpu/end-to-end.ts bench/cpu-scaling.ts
# Then two device calls (each under the 10-minute limit), carry [".device", "dist", "build"]:
#   . .device/setup.sh && bash bench/device-session.sh gpu    # WebGPU check, versus + FlexAttention, end to end
#   . .device/setup.sh && bash bench/device-session.sh cpu    # thread scaling 1..16, FMA ceiling
# Issues 14 and 15 against ONNX Runtime (CPU) and the WebGPU decode step. Here, once, with the ORT peers installed:
#   bash tools/device/pack-ort.sh                # .device/ort.tar.xz: onnxruntime-node linux-x64, onnx-proto + deps (12 MiB)
#   node tools/device/bundle-bench.mjs bench/gqa-ort.ts bench/decode.ts
#   bash bench/gpu/bundle.sh                     # only for decode-gpu (.device/gpu/webgpu.tar.xz)
# Then, carry [".device", "dist", "build"] (ort.tar.xz unpacks into node_modules after setup.sh:
#   xz -dc .device/ort.tar.xz | tar -xf -), one device call each:
#   . .device/setup.sh && bash bench/device-session.sh ort         # decode step and N 8192 prefill vs ORT, 1/2/16 threads, density sweep
#   . .device/setup.sh && bash bench/device-session.sh ort-32k     # N 32768 prefill vs ORT: 16 threads (fwd, fwd+bwd), 2 threads (fwd)
#   . .device/setup.sh && bash bench/device-session.sh decode-gpu  # WebGPU decode step beside copyBufferToBuffer's rate
# Issue 16 (float16 on WebGPU), after bash bench/gpu/bundle.sh, carry [".device"]:
#   . .device/setup.sh && bash bench/device-session.sh f16         # matrix-unit and f16 forward, f16 checks, versus FlexAttention
#   . .device/setup.sh && bash bench/device-session.sh f16-versus  # the versus bench's f32, f16 and mma rows beside FlexAttention fp16/fp32, N 1024…65536
#   then, here: node --import tsx bench/gpu/versus-plot.ts <dir> --ours=webgpu-versus-f16.json --cpu=none   (<dir>/versus.svg)
#   . .device/setup.sh && bash bench/device-session.sh mma-backward  # matrix-unit forward and backward: every tile checked and timed, D 64 and 128, the versus rows
# Issue 17's selection on both backends and issue 14's N 32768 goal at 2 threads, after npm run build,
# bash bench/gpu/bundle.sh and node tools/device/bundle-bench.mjs bench/select-blocks.ts bench/gqa-ort.ts bench/cpu-scaling.ts
# (and tools/device/pack-ort.sh once), carry [".device", "dist", "build"]:
#   . .device/setup.sh && for c in select-cpu ort-32k-2t scaling; do bash bench/device-session.sh $c; done
#   . .device/setup.sh && bash bench/device-session.sh select-webgpu
# Results land in $OUT (the device tool's output folder).
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
machine="GPU machine ($(nproc) cores), not shared"
unxz_() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
ort_unpack() { [[ -d node_modules/onnxruntime-node ]] || unxz_ .device/ort.tar.xz | tar -xf -; }
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== exit $? after $((SECONDS - t0)) s"; }
case "${1:-}" in
  gpu)
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || xz -dc .device/gpu/webgpu.tar.xz | tar -xf -
    step timeout 60 node .device/gpu/probe-subgroup-matrix.mjs "$out/subgroup-matrix-probe.json"
    step timeout 150 node .device/gpu/check.mjs "$out/check.json"
    # ours and FlexAttention side by side in one session: the ratio is what counts
    step timeout 150 node .device/gpu/attention.mjs "$out/webgpu-versus.json" --versus --backward
    step timeout 200 python3 bench/gpu/flex_attention.py "$out/flex-attention.json"
    step timeout 90 node .device/bench/end-to-end.mjs "$out/end-to-end.json" --backward
    ;;
  cpu)
    lscpu > "$out/lscpu.txt" 2>&1
    step bash -c 'timeout 60 node .device/bench/cpu-scaling.mjs --threads 1,2,4,8,16 | tee "$0"' "$out/cpu-scaling.txt"
    step timeout 420 node .device/bench/threads.mjs --threads 1,2,4,8,16 --no-web --no-ops --no-check --rounds 9 --wait-quiet 5 --out "$out/cpu-threads.json"
    ;;
  ort)
    ort_unpack
    lscpu > "$out/lscpu.txt" 2>&1; free -g > "$out/free.txt" 2>&1
    step timeout 170 node .device/bench/decode.mjs --threads 1,2,16 --rounds 15 --machine "$machine" --out "$out/decode-cpu-ort.json"
    step timeout 400 node .device/bench/gqa-ort.mjs --threads 1,2,16 --N 8192 --sweep-N 8192 --sweep-threads 16 --reps 2 --cap-s 8 --machine "$machine" --out "$out/gqa-ort-8k.json"
    ;;
  ort-32k)
    # ONNX Runtime needs Hq·N²·4 bytes of probabilities (137 GB for 32 heads): it runs on the largest head slice
    # within --ort-mem-gb (16 heads, 69 GB, at 16 threads: its kernels share work out by head) and is scaled
    ort_unpack
    free -g > "$out/free.txt" 2>&1
    step timeout 280 node .device/bench/gqa-ort.mjs --threads 16 --N 32768 --sweep-N 0 --no-check --reps 2 --cap-s 20 --ort-mem-gb 80 --machine "$machine" --out "$out/gqa-ort-32k-16t.json"
    step timeout 290 node .device/bench/gqa-ort.mjs --threads 2 --N 32768 --ops forward --sweep-N 0 --no-check --reps 1 --ort-mem-gb 80 --machine "$machine" --out "$out/gqa-ort-32k-2t.json"
    ;;
  cpu-kernels)
    # Issue 14's one-core goals: the forward beside the ceiling (per-round ratio), the old tree against this one
    # (.device/ab-old/dist: a copy of the old dist/), and FlexAttention compiled for the CPU at 1 thread
    # alternating with ours (one process each, twice: the machine's speed drifts)
    ort_unpack
    lscpu > "$out/lscpu.txt" 2>&1
    step timeout 90 node .device/bench/cpu-attention.mjs --shape gqa --forward-only --out "$out/cpu-attention-gqa.json"
    step timeout 60 node .device/bench/cpu-attention.mjs --forward-only --out "$out/cpu-attention-mha.json"
    [[ -d .device/ab-old/dist ]] && step timeout 150 node .device/bench/ab-builds.mjs .device/ab-old/dist/src/index.js dist/src/index.js --shape gqa --N 4096 --threads 1,2 --rounds 5 --ops attention --out "$out/ab-gqa.json"
    for round in 1 2; do
      step timeout 120 python3 bench/gpu/flex_cpu.py "$out/flex-cpu-1t-$round.json" 1 8192 2>&1 | tail -3
      step timeout 90 node .device/bench/gqa-ort.mjs --no-ort --no-check --threads 1 --N 8192 --ops forward --sweep-N 0 --reps 3 --machine "$machine" --out "$out/gqa-1t-$round.json" 2>&1 | tail -4
    done
    ;;
  select-cpu)
    # Issue 17 on the CPU at 16 threads (no GPU device open: Dawn polls a core): the decode step with key
    # summaries against a 131072-token cache, then the prefill selection with resident operands (no copies
    # into Wasm memory timed: the select share). After node tools/device/bundle-bench.mjs bench/select-blocks.ts;
    # carry [".device", "dist", "build"]
    lscpu > "$out/lscpu.txt" 2>&1
    step bash -c 'timeout 130 node .device/bench/select-blocks.mjs --decode --threads 16 --machine "$1" --out "$0/select-decode-cpu-16t.json" > "$0/select-decode-cpu.log" 2>&1; tail -12 "$0/select-decode-cpu.log"' "$out" "$machine"
    step bash -c 'timeout 170 node .device/bench/select-blocks.mjs --resident --threads 16 --n 32768,65536 --reps 2 --machine "$1" --out "$0/select-cpu-16t-resident.json" > "$0/select-cpu-resident.log" 2>&1; tail -14 "$0/select-cpu-resident.log"' "$out" "$machine"
    ;;
  decode-cpu-ab)
    # The CPU decode step's task rule, old tree against this one at 16 and 2 threads, alternating twice (no GPU
    # device open), and each pool's round-trip estimate. Here: build this tree (npm run build:ts) and the old one
    # (a git worktree: npm run build:ts, its dist/ copied to .device/old/dist), node tools/device/bundle-bench.mjs
    # bench/select-blocks.ts, then sed 's|\.\./\.\./dist/|../old/dist/|g' .device/bench/select-blocks.mjs >
    # .device/bench/select-blocks-old.mjs, and node tools/device/bundle-bench.mjs bench/decode-pool-calls.ts;
    # carry [".device", "dist", "build"]
    lscpu > "$out/lscpu.txt" 2>&1
    for th in 2 16; do step timeout 40 node .device/bench/decode-pool-calls.mjs --threads $th --steps 200 --topk 16; done
    for r in 1 2; do for t in old new; do
      b=.device/bench/select-blocks.mjs; [[ $t = old ]] && b=.device/bench/select-blocks-old.mjs
      for th in 16 2; do
        step bash -c 'timeout 100 node "$1" --decode --backend cpu --threads "$2" --steps 2 --reps 9 --append-reps 4 --machine "$3" --out "$0.json" > "$0.log" 2>&1; grep -E "^128k  (mean|bound)" "$0.log" | cut -c1-150' "$out/decode-$t-${th}t-$r" "$b" "$th" "$machine"
      done
    done; done
    ;;
  lane-cpu)
    # The CPU pool's task lane (src/cpu/pool/lane.ts) at 16 threads, no GPU device open: a decode step's pool
    # calls by the lane and by messages, every call split (and with 256 KiB tasks); prefill and the decode step
    # against the tree before it (.device/prev/dist) and e89a048's (.device/old/dist). Here: npm run build:ts,
    # the old trees' dist/ copied there, node tools/device/bundle-bench.mjs bench/select-blocks.ts
    # bench/decode-pool-calls.ts bench/ab-builds.ts, then select-blocks-{old,prev}.mjs made with
    # sed 's|\.\./\.\./dist/|../old/dist/|g' (and ../prev/dist/); carry [".device", "dist", "build"]
    lscpu > "$out/lscpu.txt" 2>&1
    for a in "" "--unit-ms 100 --path lane" "--unit-ms 100 --path messages" "--unit-ms 100 --path lane --min-task-bytes 262144" "--unit-ms 100 --path messages --min-task-bytes 262144"; do
      echo "== decode-pool-calls 16t $a"; timeout 30 node .device/bench/decode-pool-calls.mjs --threads 16 --steps 150 --topk 16 $a 2>&1 | tail -4
    done | tee "$out/pool-calls-16t.txt"
    step timeout 100 node .device/bench/ab-builds.mjs .device/prev/dist/src/index.js dist/src/index.js --threads 16 --rounds 5 --ops attention,attentionBackward --out "$out/ab-prefill-16t.json"
    for r in 1 2; do for t in prev new old; do
      [[ $r = 2 && $t = old ]] && continue
      b=.device/bench/select-blocks.mjs; [[ $t != new ]] && b=.device/bench/select-blocks-$t.mjs
      step bash -c 'timeout 80 node "$1" --decode --backend cpu --threads 16 --steps 2 --reps 5 --append-reps 4 --machine "$2" --out "$0.json" > "$0.log" 2>&1; grep -E "^128k  (mean|bound)" "$0.log" | cut -c1-150' "$out/decode-$t-16t-$r" "$b" "$machine"
    done; done
    ;;
  defer-gpu)
    # WebGPU ops that read nothing returning before their error scopes answer (gpu/context.ts): a decode step's
    # host time inside each WebGPU call and its awaits, scopes awaited and deferred (bench/gpu/decode-calls.ts),
    # then the decode loop of bench/select-blocks.ts against the tree before (.device/prev/dist). After
    # bash bench/gpu/bundle.sh and lane-cpu's preparation; carry [".device", "dist", "build"]
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step bash -c 'timeout 100 node .device/gpu/decode-calls.mjs > "$0/decode-calls.txt" 2>&1; grep -E "a step in the loop|inside WebGPU|resolves" "$0/decode-calls.txt"' "$out"
    for t in new prev; do
      b=.device/bench/select-blocks.mjs; [[ $t != new ]] && b=.device/bench/select-blocks-$t.mjs
      step bash -c 'timeout 110 node "$1" --decode --backend webgpu --loop 20 --machine "$2" --out "$0.json" > "$0.log" 2>&1; grep -E "loop" "$0.log" | cut -c1-200 | tail -6' "$out/decode-webgpu-$t" "$b" "$gpu"
    done
    ;;
  grow-bind)
    # Workers refreshing the memory only after it grew (src/cpu/pool/worker.ts) and kept WebGPU bind
    # groups (gpu/bind-groups.ts), against the tree before them (.device/base/dist, 68e12d5's dist):
    # the 16-thread decode step (and, new tree, the held step: selection made by its attention,
    # src/cpu/held-selection.ts; its row's last three columns), the 16-thread decode step's lane calls with every call split (4 and 8/18 tasks), the decode step
    # and prefill at 16 threads, then the WebGPU decode loop. Here: npm run build:ts, 68e12d5's dist/
    # copied to .device/base/dist, node tools/device/bundle-bench.mjs bench/select-blocks.ts bench/decode-held-step.ts
    # bench/decode-pool-calls.ts bench/ab-builds.ts, then select-blocks-base.mjs and
    # decode-pool-calls-base.mjs made with sed 's|\.\./\.\./dist/|../base/dist/|g', and
    # bash bench/gpu/bundle.sh; carry [".device", "dist", "build"]. About 3 minutes. Its files go
    # into one tar (the device tool brings back 8 files at most), repacked after every step.
    res=$out; out=/tmp/grow-bind; mkdir -p "$out"
    pack() { tar -cf "$res/grow-bind.tar" -C /tmp grow-bind; }
    trap pack EXIT
    # the held decode step (its bundle: bundle-bench.mjs bench/decode-held-step.ts) at 16 and 2 threads
    for a in "16 mean 16" "16 bound 16" "16 mean 32" "2 mean 16"; do
      set -- $a
      step bash -c 'timeout 40 node .device/bench/decode-held-step.mjs --threads "$1" --score "$2" --topk "$3" --steps 300 --machine "$4" --out "$0/held-$1t-$2-$3.json" | tail -1' "$out" "$1" "$2" "$3" "$machine"
    done; pack
    for tc in "new|" "new|--unit-ms 100 --path lane" "new|--unit-ms 100 --path lane --min-task-bytes 262144" "base|--unit-ms 100 --path lane --min-task-bytes 262144" "new|--unit-ms 100 --path messages --min-task-bytes 262144"; do
      t=${tc%%|*}; a=${tc#*|}
      b=.device/bench/decode-pool-calls.mjs; [[ $t != new ]] && b=.device/bench/decode-pool-calls-$t.mjs
      echo "== $t decode-pool-calls 16t $a"; timeout 25 node "$b" --threads 16 --steps 100 --topk 16 $a 2>&1 | tail -4
    done | tee "$out/pool-calls-16t.txt"
    for t in new base; do
      b=.device/bench/select-blocks.mjs; [[ $t != new ]] && b=.device/bench/select-blocks-$t.mjs
      step bash -c 'timeout 60 node "$1" --decode --backend cpu --threads 16 --steps 2 --reps 5 --append-reps 2 --machine "$2" --out "$0.json" > "$0.log" 2>&1; grep -E "^128k  (mean|bound)" "$0.log" | awk '"'"'{print $2,$3,"select",$8,"sparse",$10,"dense",$12,$13,"| last three:",$(NF-2),$(NF-1),$NF}'"'"'' "$out/decode-$t-16t" "$b" "$machine"; pack
    done
    step timeout 60 node .device/bench/ab-builds.mjs .device/base/dist/src/index.js dist/src/index.js --threads 16 --rounds 5 --ops attention,attentionBackward --out "$out/ab-prefill-16t.json"; pack
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    for t in new base; do
      b=.device/bench/select-blocks.mjs; [[ $t != new ]] && b=.device/bench/select-blocks-$t.mjs
      step bash -c 'timeout 50 node "$1" --decode --backend webgpu --loop 20 --topk 16 --steps 2 --reps 3 --append-reps 2 --machine "$2" --out "$0.json" > "$0.log" 2>&1; grep -E "loop" "$0.log" | cut -c1-200 | tail -2' "$out/decode-webgpu-$t" "$b" "$gpu"; pack
    done
    step bash -c 'timeout 60 node .device/gpu/decode-calls.mjs --steps 30 > "$0/decode-calls.txt" 2>&1; grep -E "a step in the loop|inside WebGPU|createBindGroup" "$0/decode-calls.txt"' "$out"
    ;;
  ort-32k-2t)
    # Issue 14's N 32768 goal at 2 threads: our forward against ONNX Runtime's dense GroupQueryAttention
    # (the faster peer; SparseAttention ran 5.8x slower than ours: bench/results/issue-14-h200), one round
    ort_unpack
    step timeout 200 node .device/bench/gqa-ort.mjs --threads 2 --N 32768 --ops forward --peers gqa --sweep-N 0 --no-check --reps 1 --ort-mem-gb 80 --machine "$machine" --out "$out/gqa-ort-32k-2t.json"
    ;;
  scaling)
    # Issue 14's 1 -> 2 thread goal: the attention forward's speedup beside the register-only ceiling's,
    # round by round (after node tools/device/bundle-bench.mjs bench/cpu-scaling.ts)
    step bash -c 'timeout 100 node .device/bench/cpu-scaling.mjs --threads 1,2 --attention --rounds 11 --out "$0/cpu-scaling-attention.json" | tail -5' "$out"
    ;;
  select-webgpu)
    # Issue 17 on WebGPU: the prefill selection with resident operands (wall and kernel times: the
    # timestamp queries), then the decode step with the key summaries kept on the GPU ('bound' there too)
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step bash -c 'timeout 240 node .device/bench/select-blocks.mjs --backend webgpu --resident --n 32768,65536,131072 --reps 5 --machine "$1" --out "$0/select-webgpu-resident.json" > "$0/select-webgpu-resident.log" 2>&1; tail -16 "$0/select-webgpu-resident.log"' "$out" "$gpu"
    step bash -c 'timeout 200 node .device/bench/select-blocks.mjs --decode --backend webgpu --machine "$1" --out "$0/select-decode-webgpu.json" > "$0/select-decode-webgpu.log" 2>&1; tail -12 "$0/select-decode-webgpu.log"' "$out" "$gpu"
    ;;
  select-ab)
    # Issue 17's WebGPU selection kernels, the previous tree against this one on one GPU (rows of one
    # run compare; machines of this kind differ 2-3x): old, new, old, new, without the dense rows; first
    # where a small op's wall time goes (call-overhead). After npm run build, bash bench/gpu/bundle.sh,
    # node tools/device/bundle-bench.mjs bench/select-blocks.ts, the old tree's dist/ copied to
    # .device/ab-old/dist and .device/bench/select-blocks-old.mjs made from the bundle with its
    # ../../dist/ pointing there; carry [".device", "dist", "build"]
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step timeout 60 node .device/gpu/call-overhead.mjs "$out/call-overhead.json"
    step timeout 90 node .device/gpu/select-kernels.mjs "$out/select-kernels.json"
    for round in ${ROUNDS:-1 2}; do
      for build in old new; do
        bench=.device/bench/select-blocks.mjs; [[ $build == old ]] && bench=.device/bench/select-blocks-old.mjs
        step bash -c 'timeout 120 node "$2" --backend webgpu --resident --no-dense --n 65536,131072 --reps 5 --machine "$1" --out "$0/select-$3-$4.json" > "$0/select-$3-$4.log" 2>&1; tail -12 "$0/select-$3-$4.log"' "$out" "$gpu" "$bench" "$build" "$round"
      done
    done
    ;;
  select-final)
    # Issue 17 on WebGPU after the selection kernels' rework: the kernels alone, the previous commit's
    # (.device/gpu/select-kernels-prev.mjs, bundled from that tree) and this tree's alternating three
    # times; then the prefill selection with the dense rows and the decode step. Carry [".device", "dist", "build"]
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step timeout 60 node .device/gpu/call-overhead.mjs "$out/call-overhead.json"
    for round in 1 2 3; do
      [[ -f .device/gpu/select-kernels-prev.mjs ]] && step timeout 60 node .device/gpu/select-kernels-prev.mjs "$out/select-kernels-prev-$round.json"
      step timeout 60 node .device/gpu/select-kernels.mjs "$out/select-kernels-$round.json"
    done
    step bash -c 'timeout 200 node .device/bench/select-blocks.mjs --backend webgpu --resident --n 65536,131072 --reps 5 --machine "$1" --out "$0/select-webgpu-resident.json" > "$0/select-webgpu-resident.log" 2>&1; tail -14 "$0/select-webgpu-resident.log"' "$out" "$gpu"
    step bash -c 'timeout 150 node .device/bench/select-blocks.mjs --decode --backend webgpu --machine "$1" --out "$0/select-decode-webgpu.json" > "$0/select-decode-webgpu.log" 2>&1; tail -10 "$0/select-decode-webgpu.log"' "$out" "$gpu"
    # what a user's call costs end to end, the previous tree's engine (.device/bench/end-to-end-old.mjs on
    # .device/ab-old/dist) and this one's
    for build in old new; do
      e2e=.device/bench/end-to-end.mjs; [[ $build == old ]] && e2e=.device/bench/end-to-end-old.mjs
      [[ -f $e2e ]] && step bash -c 'timeout 100 node "$1" "$0/end-to-end-$2.json" --max-n=16384 > "$0/end-to-end-$2.log" 2>&1; tail -8 "$0/end-to-end-$2.log"' "$out" "$e2e" "$build"
    done
    # one archive: the device tool brings back a bounded count of files
    tar -C "$out" -czf "$out/../select-final.tar.gz" . && rm -rf "$out"/* && mv "$out/../select-final.tar.gz" "$out/"
    ;;
  select-clocks)
    # Whether the selection kernels' slow runs at 131072 are the GPU's clocks: the previous tree's and
    # this tree's select-kernels alternating three times, nvidia-smi logging clocks every 100 ms beside
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,clocks_throttle_reasons.active --format=csv -lms 100 > "$out/clocks.csv" 2>&1 &
    smi=$!
    for round in 1 2 3; do
      for build in prev new; do
        k=.device/gpu/select-kernels.mjs; [[ $build == prev ]] && k=.device/gpu/select-kernels-prev.mjs
        echo "$(date +%H:%M:%S.%N) start $build $round" >> "$out/marks.txt"
        step timeout 60 node "$k" --n 131072 "$out/select-kernels-$build-$round.json"
        echo "$(date +%H:%M:%S.%N) end $build $round" >> "$out/marks.txt"
      done
    done
    kill $smi
    tar -C "$out" -czf "$out/../select-clocks.tar.gz" . && rm -rf "$out"/* && mv "$out/../select-clocks.tar.gz" "$out/"
    ;;
  select-pools)
    # Whether the pools' contents bring on the slow state at 131072 after a 65536 run in one process
    # (2026-12-03c): select-kernels (65536, then 131072) with both pools, without the staging pool,
    # without the buffer pool, without either; twice each, clocks logged
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu --format=csv -lms 100 > "$out/clocks.csv" 2>&1 &
    smi=$!
    for round in 1 2; do
      for cfg in both no-staging no-pool neither; do
        case $cfg in both) f=();; no-staging) f=(--staging-bytes 0);; no-pool) f=(--pool-bytes 0);; neither) f=(--staging-bytes 0 --pool-bytes 0);; esac
        echo "$(date +%H:%M:%S.%N) start $cfg $round" >> "$out/marks.txt"
        step timeout 60 node .device/gpu/select-kernels.mjs "${f[@]}" "$out/select-kernels-$cfg-$round.json"
      done
    done
    kill $smi
    tar -C "$out" -czf "$out/../select-pools.tar.gz" . && rm -rf "$out"/* && mv "$out/../select-pools.tar.gz" "$out/"
    ;;
  select-all)
    # Issue 17 in one call: the CPU decode step at 16 threads with the library's task rule and with 256 KiB
    # of K/V reads per pool task (taskTuning.minTaskBytes), no GPU device open; then select-webgpu's
    # two steps at N 65536 and 131072. Everything lands in one select-all.tar.gz (the device tool
    # brings back a few files only)
    w="$out/select-all"; mkdir -p "$w"
    lscpu > "$w/lscpu.txt" 2>&1
    for b in default 262144; do
      flag=(); [[ $b == default ]] || flag=(--min-task-bytes "$b")
      step bash -c 'timeout 110 node .device/bench/select-blocks.mjs --decode --threads 16 "${@:3}" --machine "$1" --out "$0/select-decode-cpu-16t-$2.json" > "$0/select-decode-cpu-$2.log" 2>&1; tail -8 "$0/select-decode-cpu-$2.log"' "$w" "$machine" "$b" "${flag[@]}"
    done
    nvidia-smi -L > "$w/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step bash -c 'timeout 150 node .device/bench/select-blocks.mjs --backend webgpu --resident --n 65536,131072 --reps 5 --machine "$1" --out "$0/select-webgpu-resident.json" > "$0/select-webgpu-resident.log" 2>&1; tail -14 "$0/select-webgpu-resident.log"' "$w" "$gpu"
    step bash -c 'timeout 150 node .device/bench/select-blocks.mjs --decode --backend webgpu --machine "$1" --out "$0/select-decode-webgpu.json" > "$0/select-decode-webgpu.log" 2>&1; tail -10 "$0/select-decode-webgpu.log"' "$w" "$gpu"
    tar -C "$out" -czf "$out/select-all.tar.gz" select-all && rm -rf "$w"
    ;;
  torch-cpu)
    # PyTorch on the same CPU (issue 14): FlexAttention compiled for the CPU and SDPA dense, forward;
    # one process per thread count (PyTorch 2.11 aborted with heap corruption there when attention
    # ran on more than one thread in one process)
    lscpu > "$out/lscpu.txt" 2>&1
    for t in 16 2 1; do step timeout 170 python3 bench/gpu/flex_cpu.py "$out/flex-cpu-${t}t.json" "$t" 8192 2>&1 | tail -5; done
    ;;
  decode-gpu)
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    step timeout 300 node .device/bench/decode.mjs --backend webgpu --rounds 30 --machine "$machine, $(nvidia-smi -L 2>/dev/null | head -1)" --out "$out/decode-webgpu.json"
    # PyTorch's decode step on the same GPU, in the same call: FlexAttention and SDPA dense
    step timeout 200 python3 bench/gpu/flex_decode.py "$out/flex-decode.json"
    ;;
  held-short)
    # grow-bind's most wanted parts in one short call (prepared as grow-bind is), then mma-double:
    # the held decode step at 16 threads, the lane's split calls after the grow(0) change against the
    # tree before, the 16-thread decode step, the WebGPU decode loop and its calls (kept bind groups)
    res=$out; out=/tmp/held-short; mkdir -p "$out"
    pack() { tar -cf "$res/held-short.tar" -C /tmp held-short; }
    trap pack EXIT
    for a in "16 mean 16" "16 bound 16" "2 mean 16"; do
      set -- $a
      step bash -c 'timeout 40 node .device/bench/decode-held-step.mjs --threads "$1" --score "$2" --topk "$3" --steps 300 --machine "$4" --out "$0/held-$1t-$2-$3.json" | tail -1' "$out" "$1" "$2" "$3" "$machine"
    done; pack
    for t in new base; do
      b=.device/bench/decode-pool-calls.mjs; [[ $t != new ]] && b=.device/bench/decode-pool-calls-$t.mjs
      echo "== $t decode-pool-calls 16t, every call split, by the lane"; timeout 25 node "$b" --threads 16 --steps 100 --topk 16 --unit-ms 100 --path lane 2>&1 | tail -4
    done | tee "$out/pool-calls-16t.txt"; pack
    step bash -c 'timeout 60 node .device/bench/select-blocks.mjs --decode --backend cpu --threads 16 --steps 2 --reps 5 --append-reps 2 --machine "$1" --out "$0/decode-16t.json" > "$0/decode-16t.log" 2>&1; grep -E "^128k  (mean|bound)" "$0/decode-16t.log" | awk '"'"'{print $2,$3,"select",$8,"sparse",$10,"dense",$12,$13,"| held:",$(NF-2),$(NF-1),$NF}'"'"'' "$out" "$machine"; pack
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    gpu="$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    step bash -c 'timeout 50 node .device/bench/select-blocks.mjs --decode --backend webgpu --loop 20 --topk 16 --steps 2 --reps 3 --append-reps 2 --machine "$1" --out "$0/decode-webgpu.json" > "$0/decode-webgpu.log" 2>&1; grep -E "loop" "$0/decode-webgpu.log" | cut -c1-200 | tail -2' "$out" "$gpu"; pack
    step bash -c 'timeout 60 node .device/gpu/decode-calls.mjs --steps 30 > "$0/decode-calls.txt" 2>&1; grep -E "a step in the loop|inside WebGPU|createBindGroup" "$0/decode-calls.txt"' "$out"; pack
    step bash -c 'timeout 200 node .device/gpu/mma.mjs "$0/mma-double.json" --forward-only --seqs=16384,65536 --rounds=2 > "$0/mma-double.log" 2>&1; grep -E "^(FAIL|ERROR)|^N " "$0/mma-double.log" | cut -c1-700' "$out"
    ;;
  mma-double)
    # Issue 16: the forward's K/V staged in two buffers (MmaTile.double: no barrier at a step's end)
    # beside the single-buffer tiles, checked then timed, two rounds interleaved (after bash bench/gpu/bundle.sh)
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    step bash -c 'timeout 200 node .device/gpu/mma.mjs "$0/mma-double.json" --forward-only --seqs=16384,65536 --rounds=2 > "$0/mma-double.log" 2>&1; grep -E "^(FAIL|ERROR)|^N " "$0/mma-double.log" | cut -c1-700' "$out"
    ;;
  mma-select)
    # Issue 16's matrix-unit tiles (checks and sweep) and issue 17's selection on both backends, one call:
    # after bash bench/gpu/bundle.sh and node tools/device/bundle-bench.mjs bench/select-blocks.ts, carry [".device", "dist", "build"]
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    step bash -c 'timeout 150 node .device/gpu/mma.mjs "$0/mma.json" > "$0/mma.log" 2>&1; tail -30 "$0/mma.log"' "$out"
    step bash -c 'timeout 170 node .device/bench/select-blocks.mjs --backend webgpu --n 32768,65536,131072 --reps 3 --machine "$1" --out "$0/select-webgpu.json" > "$0/select-webgpu.log" 2>&1; tail -14 "$0/select-webgpu.log"' "$out" "$machine, $(nvidia-smi -L 2>/dev/null | head -1)"
    # the CPU with no GPU device open (Dawn polls a core)
    step bash -c 'timeout 120 node .device/bench/select-blocks.mjs --threads 16 --n 32768,65536 --reps 2 --machine "$1" --out "$0/select-cpu-16t.json" > "$0/select-cpu.log" 2>&1; tail -12 "$0/select-cpu.log"' "$out" "$machine"
    step bash -c 'timeout 90 node .device/bench/select-blocks.mjs --decode --threads 16 --machine "$1" --out "$0/select-decode-cpu-16t.json" > "$0/select-decode.log" 2>&1; tail -10 "$0/select-decode.log"' "$out" "$machine"
    ;;
  f16)
    # Issue 16: float16 on WebGPU (the matrix units and the plain f16 shaders) beside FlexAttention fp16/fp32, one call
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    step timeout 120 node .device/gpu/mma.mjs "$out/mma.json"
    step timeout 120 node .device/gpu/check.mjs "$out/check-float16.json" --only=float16
    step timeout 150 node .device/gpu/attention.mjs "$out/webgpu-versus-f16.json" --versus --backward --dtype=float16
    step timeout 200 python3 bench/gpu/flex_attention.py "$out/flex-attention.json"
    ;;
  f16-versus)
    # Issue 16: the versus bench's three programs (f32, plain shader-f16, f16 on the matrix units;
    # rows interleaved, 2 rounds) and FlexAttention fp16/fp32 on the same GPU, N 1024…65536, one call.
    # Both logs are kept as they go (each prints a line per N), so a timeout still leaves the rows done;
    # clocks.csv logs the GPU's clocks and power meanwhile (the bench's log has each N's start time).
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu --format=csv -lms 250 > "$out/clocks.csv" 2>&1 &
    clocks=$!
    step bash -c 'timeout 240 node .device/gpu/attention.mjs "$0/webgpu-versus-f16.json" --versus --backward --paths=f32,f16,mma --rounds=2 > "$0/webgpu-versus-f16.log" 2>&1; grep -v "^==" "$0/webgpu-versus-f16.log" | tail -24' "$out"
    step bash -c 'timeout 320 python3 bench/gpu/flex_attention.py "$0/flex-attention.json" 1024 2048 4096 8192 16384 32768 65536 > "$0/flex-attention.log" 2>&1; tail -8 "$0/flex-attention.log"' "$out"
    kill "$clocks" 2>/dev/null
    ;;
  mma-backward)
    # Issue 16: the matrix-unit forward and backward, every tile checked against float64 and timed
    # (D 64 at N 16384 and 65536, D 128 at 16384), then the versus bench's f32, f16 and mma rows; one
    # call of about 250 s (bench/results/issue-16-h200/2026-12-03-backward run 5). After
    # bash bench/gpu/bundle.sh, carry [".device"].
    nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1
    [[ -d node_modules/webgpu ]] || unxz_ .device/gpu/webgpu.tar.xz | tar -xf -
    step bash -c 'timeout 230 node .device/gpu/mma.mjs "$0/mma.json" --seqs=16384,65536 > "$0/mma.log" 2>&1; grep -E "^(FAIL|ERROR)|^N |backward \(" "$0/mma.log" | cut -c1-300' "$out"
    step bash -c 'timeout 60 node .device/gpu/mma.mjs "$0/mma-d128.json" --sweep-only --seqs=16384 --D=128 > "$0/mma-d128.log" 2>&1; grep -E "^N |backward \(" "$0/mma-d128.log" | cut -c1-300' "$out"
    step bash -c 'timeout 110 node .device/gpu/attention.mjs "$0/webgpu-versus-f16.json" --versus --backward --paths=f32,f16,mma --seqs=1024,4096,16384,65536 > "$0/webgpu-versus-f16.log" 2>&1; grep "^versus" "$0/webgpu-versus-f16.log" | cut -c1-160' "$out"
    ;;
  *) echo "usage: bench/device-session.sh gpu|cpu|decode-cpu-ab|lane-cpu|defer-gpu|grow-bind|held-short|mma-double|cpu-kernels|select-cpu|ort-32k-2t|scaling|select-webgpu|ort|ort-32k|torch-cpu|decode-gpu|mma-select|select-ab|select-final|select-clocks|select-pools|select-all|f16|f16-versus|mma-backward" >&2; exit 2 ;;
esac
