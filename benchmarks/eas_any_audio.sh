#!/usr/bin/env bash
# The EAS search over the three groups (issue 13): short clips, speech-filled windows, long
# recordings. Speech budget (all speech + P padding tokens) at layers 1-3, P in {100, 200, 300},
# the paper's window budget beside it, and the controls at equal kept counts.
# Needs `python benchmarks/build_long_audio.py` first (writes data/).
set -euo pipefail
DEV=../shared/data/librispeech-dev-clean
OUT=benchmarks/results/eas_any_audio
mkdir -p $OUT
head -100 $DEV/subset300.txt > $OUT/short100.txt
python -c "import json; rows = [json.loads(l) for l in open('data/windows/manifest.jsonl')]
print('\n'.join([r['id'] for r in rows if r['group'] == 'tune'][:20]))" > $OUT/windows20.txt
for MODEL in base tiny.en; do
  whisper-eas search --data $DEV --subset $OUT/short100.txt --model $MODEL --threads 2 \
    --eas-budget speech --eas-layers 1,2,3 --eas-padding-tokens-list 100,200,300 \
    --output $OUT/short_$MODEL.jsonl
  # controls at equal kept counts: truncation (the first P padding tokens), random keep
  whisper-eas search --data $DEV --subset $OUT/short100.txt --model $MODEL --threads 2 \
    --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 100 --eas-padding-choice first \
    --output $OUT/short_$MODEL.jsonl
  whisper-eas search --data $DEV --subset $OUT/short100.txt --model $MODEL --threads 2 \
    --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 100 --eas-aggregates random \
    --output $OUT/short_$MODEL.jsonl
  whisper-eas search --data $DEV --subset $OUT/short100.txt --model $MODEL --threads 2 \
    --eas-layers 2 --eas-sparsities 0.5,0.7 --output $OUT/short_$MODEL.jsonl
  whisper-eas search --data data/windows --subset $OUT/windows20.txt --model $MODEL --threads 2 \
    --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 100,300 \
    --output $OUT/windows_$MODEL.jsonl
  whisper-eas search --data data/windows --subset $OUT/windows20.txt --model $MODEL --threads 2 \
    --eas-layers 2,3 --eas-sparsities 0.2,0.5 --output $OUT/windows_$MODEL.jsonl
done
