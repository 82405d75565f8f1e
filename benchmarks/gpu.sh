#!/usr/bin/env bash
# The GPU check, one prepared script: cuDNN-vs-XLA attention tests, then `jaxlm bench` (bf16, 10 timed steps) of
# GPT-2 124M at seq 1024 (cuDNN and XLA attention, and the preset's 512×1024-token step as 16 microbatches),
# BERT-base and T5-base, then a profiler trace of the GPT-2 step. One JSON line per run in OUTDIR/gpu.jsonl,
# logs in OUTDIR/gpu.log, the trace as OUTDIR/gpt2_124m.{xplane.pb,trace.json.gz}; figures in RESULTS.md.
#
# Usage:   bash benchmarks/gpu.sh OUTDIR        (jaxlm importable; run from the repository root)
#          EXTRA_ARGS="--steps 1 --config.model.n_layers=1" bash benchmarks/gpu.sh /tmp/gpu   (a try-out on a CPU)
# Runtime: about 7–8 min on one H100, most of it XLA compiling (measured: 7 min without the profiled run).
# The embedded corpus cannot train the presets' 32k–50k tokenizers, so batches come from a 4096-piece one
# (--data-vocab): token values do not change the step's cost.
set -u
out=${1:?usage: bash benchmarks/gpu.sh OUTDIR}
mkdir -p "$out"
log=$out/gpu.log results=$out/gpu.jsonl
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >> "$log" 2>&1
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$log"
python3 -m pytest -q -p no:cacheprovider tests/test_attention.py 2>&1 | tail -3 | tee -a "$log"

bench() {  # NAME CONFIG [--config.a.b=v ...]: one line {"run", "rc", "report"} in gpu.jsonl, stderr in gpu.log
  local name=$1 config=$2 report rc; shift 2
  echo "== $name" | tee -a "$log"
  report=$(timeout "${RUN_TIMEOUT:-300}" python3 -m jaxlm.cli.main bench --config "experiments/$config.py" \
    --data-vocab 4096 --config.train.precision=bf16 "$@" ${EXTRA_ARGS:-} 2>> "$log")
  rc=$?
  echo "{\"run\": \"$name\", \"rc\": $rc, \"report\": ${report:-null}}" | tee -a "$results"
}

gpt2=(--config.train.batch_size=32 --config.train.microbatches=1)
bench gpt2_124m_cudnn gpt2_124m "${gpt2[@]}" --config.model.attention=auto
bench gpt2_124m_xla gpt2_124m "${gpt2[@]}" --config.model.attention=xla
bench bert_base bert_base --config.data.dupe_factor=1
bench t5_base t5_base --config.train.batch_size=32   # batch 64 needs ~93 GB of temporaries (jaxlm compile)
bench gpt2_124m_preset_step gpt2_124m --config.train.microbatches=16 --config.model.attention=auto
# Where the GPT-2 step's time goes: a 3-step jax.profiler trace, its files copied to OUTDIR's top level.
bench gpt2_124m_profiled gpt2_124m "${gpt2[@]}" --steps 3 --profile "$out/profile"
find "$out/profile" -name "*.xplane.pb" -exec cp {} "$out/gpt2_124m.xplane.pb" \; 2>/dev/null
find "$out/profile" -name "*.trace.json.gz" -exec cp {} "$out/gpt2_124m.trace.json.gz" \; 2>/dev/null
rm -rf "$out/profile"
