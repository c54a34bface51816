#!/usr/bin/env bash
# The built-in keep rules before and after they became classes (issue 23): the same searches,
# run at two commits, must give the same hypotheses setting by setting. Usage:
#   bash benchmarks/rules_unchanged.sh OUT     (in each checkout; then compare with
#   python benchmarks/rules_unchanged.py OUT_BEFORE OUT_AFTER [committed .jsonl ...])
# Short clips: the first 50 of subset300 (benchmarks/results/eas_any_audio/short50.txt), tiny.en;
# every rule: the paper's top-k (and its aggregate, scorer and cross-layer ablations), random,
# SpeechPrune's binarized scorer, the speech budget, truncation, the VAD-aware budget.
set -euo pipefail
OUT=${1:?output folder}
DEV=${DEV:-../shared/data/librispeech-dev-clean}
mkdir -p "$OUT"
search() { python -m whisper_eas search --threads 2 --data $DEV --model tiny.en \
  --subset benchmarks/results/eas_any_audio/short50.txt "$@"; }
search --output "$OUT/topk.jsonl" --eas-layers 1,2 --eas-sparsities 0.3,0.5
search --output "$OUT/topk.jsonl" --eas-layers 2 --eas-sparsities 0.5 \
  --eas-aggregates max,min,geometric_mean,random
search --output "$OUT/topk.jsonl" --eas-layers 3 --eas-sparsities 0.5 --eas-cross-layer
for SCORER in chunked strided binarized; do
  search --output "$OUT/topk.jsonl" --eas-layers 2 --eas-sparsities 0.5 --eas-scorer $SCORER
done
search --output "$OUT/speech.jsonl" --eas-budget speech --eas-layers 1,2 \
  --eas-padding-tokens-list 100,300
search --output "$OUT/speech.jsonl" --eas-budget speech --eas-layers 2 \
  --eas-padding-tokens-list 300 --eas-speech-sparsity 0.2
search --output "$OUT/speech.jsonl" --eas-budget speech --eas-layers 1,2 \
  --eas-padding-tokens-list 100,300 --eas-padding-choice first
search --output "$OUT/speech.jsonl" --eas-budget speech --eas-layers 2 \
  --eas-padding-tokens-list 300 --eas-aggregates random
search --output "$OUT/speech.jsonl" --eas-budget speech --eas-layers 1 \
  --eas-padding-tokens-list 300 --eas-padding-choice first --eas-vad
