#!/usr/bin/env bash
# The CPU figures of benchmarks/RESULTS.md §1-§4 (the PyTorch peer, the families at equal size, the fast paths,
# scaling), into benchmarks/results/ (~25 min on 2 idle cores; run nothing else). Every other section gives the
# command behind its own figures (§5-§10: data_scale.py, gpu.sh, profile_gpt.py, causal_blocks_ab.py, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=benchmarks/results
mkdir -p "$OUT"
$PY benchmarks/compare_gpt.py --shape tiny > "$OUT/compare_tiny.json"
$PY benchmarks/compare_gpt.py --shape big > "$OUT/compare_big.json"
# The families at (about) equal size: 4 layers of d 256 (encoder-decoders 2 + 2), seq 128, batch 16, vocab 4096.
SIZE="--config.model.d_model=256 --config.model.n_heads=4 --config.model.d_kv=0 --config.model.d_ff=1024 --config.model.vocab_size=4096
      --config.data.seq_len=128 --config.model.max_len=128 --config.train.batch_size=16 --config.train.precision=fp32"
for preset in gpt_shakespeare:4 bert_shakespeare:4 roberta_shakespeare:4 t5_span_corruption:2 bart_denoise:2; do
  name=${preset%%:*}; layers=${preset##*:}
  # shellcheck disable=SC2086
  .venv/bin/jaxlm bench --config "experiments/$name.py" --steps 10 $SIZE --config.model.n_layers="$layers" \
    > "$OUT/family_$name.json"
done
$PY benchmarks/fast_paths.py --out "$OUT/fast_paths.json" --steps 3
$PY benchmarks/scaling.py --out "$OUT" --rounds 3 --steps 2
