#!/usr/bin/env bash
# The GPU check, one prepared script: cuDNN-vs-XLA attention tests, then `jaxlm bench` (bf16, 10 timed steps) of
# GPT-2 124M at seq 1024 (cuDNN and XLA attention, the fused loss, and the preset's 512×1024-token step as 16
# microbatches), BERT-base, T5-base (batch 32, and 64 with remat), Llama 1.1B, then profiled runs of GPT-2, BERT
# and T5 whose per-category tables (`jaxlm bench --profile`: matmuls, attention, norms/elementwise, loss,
# optimizer, collectives, idle) come back in their JSON. One JSON line per run in OUTDIR/gpu.jsonl, logs in
# OUTDIR/gpu.log, the GPT-2 trace as OUTDIR/gpt2_124m.{xplane.pb,trace.json.gz}; figures in RESULTS.md.
#
# Usage:   bash benchmarks/gpu.sh OUTDIR        (jaxlm importable; run from the repository root)
#          EXTRA_ARGS="--steps 1 --config.model.n_layers=1" bash benchmarks/gpu.sh /tmp/gpu   (a try-out on a CPU)
# Runtime: about 12 min on one H100, most of it XLA compiling (the first seven runs took 7 min at 7b24eb0).
#          ONLY="gpt2_124m_cudnn t5_base_remat" runs just those.
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
  [[ -z "${ONLY:-}" || " $ONLY " == *" $name "* ]] || return 0
  echo "== $name" | tee -a "$log"
  report=$(timeout "${RUN_TIMEOUT:-300}" python3 -m jaxlm.cli.main bench --config "experiments/$config.py" \
    --data-vocab 4096 --config.train.precision=bf16 "$@" ${EXTRA_ARGS:-} 2>> "$log")
  rc=$?
  echo "{\"run\": \"$name\", \"rc\": $rc, \"report\": ${report:-null}}" | tee -a "$results"
}

gpt2=(--config.train.batch_size=32 --config.train.microbatches=1)
bench gpt2_124m_cudnn gpt2_124m "${gpt2[@]}" --config.model.attention=auto
bench gpt2_124m_xla gpt2_124m "${gpt2[@]}" --config.model.attention=xla
bench gpt2_124m_logits_loss gpt2_124m "${gpt2[@]}" --config.train.loss_chunk=0   # the fused loss's baseline
bench gpt2_124m_mu_bf16 gpt2_124m "${gpt2[@]}" --config.optim.mu_dtype=bf16   # AdamW's first moment in bf16
bench bert_base bert_base --config.data.dupe_factor=1
bench t5_base t5_base --config.train.batch_size=32
bench t5_base_remat t5_base --config.train.batch_size=64 --config.model.remat=save_dots   # 93 GB of temps without
bench llama_1b llama_1b --config.train.batch_size=8 --config.train.microbatches=1
bench gpt2_124m_preset_step gpt2_124m --config.train.microbatches=16 --config.model.attention=auto
# Where each step's time goes: 3-step jax.profiler traces summarised by `jaxlm bench --profile` (the JSON's
# "profile": ms per category and idle); GPT-2's trace files are copied to OUTDIR's top level.
bench gpt2_124m_profiled gpt2_124m "${gpt2[@]}" --steps 3 --profile "$out/profile"
find "$out/profile" -name "*.xplane.pb" -exec cp {} "$out/gpt2_124m.xplane.pb" \; 2>/dev/null
find "$out/profile" -name "*.trace.json.gz" -exec cp {} "$out/gpt2_124m.trace.json.gz" \; 2>/dev/null
rm -rf "$out/profile"
bench bert_base_profiled bert_base --config.data.dupe_factor=1 --steps 3 --profile "$out/profile_bert"
bench t5_base_profiled t5_base --config.train.batch_size=32 --steps 3 --profile "$out/profile_t5"
rm -rf "$out/profile_bert" "$out/profile_t5"
