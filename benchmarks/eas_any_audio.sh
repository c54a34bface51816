#!/usr/bin/env bash
# The EAS search over the three groups (issue 13): short clips, speech-filled windows (and long
# recordings: benchmarks/longform.py runs the chosen setting there). The speech budget (all speech
# + P padding tokens) at layers 1-3, P = 300 (and P = 100 at layer 1 for base); the paper's window
# budget beside it; the controls at equal kept counts (the first P padding tokens after the speech,
# i.e. truncation, and a random keep); the truncation sweep over P and its validation.
# (The tiny.en P = 50 run was not made, for CPU time.) Then a second validation of layers 1 and 2
# for tiny.en on 150 more clips (subset300 #151-300): its layer 1 is the faster candidate.
# Needs `python benchmarks/build_long_audio.py` first (it writes data/).
set -euo pipefail
DEV=../shared/data/librispeech-dev-clean
OUT=benchmarks/results/eas_any_audio
mkdir -p $OUT
head -50 $DEV/subset300.txt > $OUT/short50.txt
python -c "import json; rows = [json.loads(l) for l in open('data/windows/manifest.jsonl')]
print('\n'.join([r['id'] for r in rows if r['group'] == 'tune'][:20]))" > $OUT/windows20.txt
search() { whisper-eas search --threads 2 "$@"; }
for MODEL in base tiny.en; do
  SHORT="--data $DEV --subset $OUT/short50.txt --model $MODEL --output $OUT/short_$MODEL.jsonl"
  WINDOWS="--data data/windows --subset $OUT/windows20.txt --model $MODEL --output $OUT/windows_$MODEL.jsonl"
  search $SHORT --eas-budget speech --eas-layers 1,2,3 --eas-padding-tokens-list 300
  search $SHORT --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 300 --eas-padding-choice first
  search $SHORT --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 300 --eas-aggregates random
  search $SHORT --eas-layers 2 --eas-sparsities 0.5
  search $WINDOWS --eas-budget speech --eas-layers 2 --eas-padding-tokens-list 300
  search $WINDOWS --eas-layers 2 --eas-sparsities 0.5
  # Truncation (first P padding tokens, no scoring): where does it switch on? Then the
  # validation of layers 1 and 2 at P = 300 on 100 other clips (subset300 #51-150).
  search $SHORT --eas-budget speech --eas-layers 1,2 --eas-padding-tokens-list 50,100,150,200,300 \
    --eas-padding-choice first
  sed -n 51,150p $DEV/subset300.txt > $OUT/short100_validation.txt
  search --data $DEV --subset $OUT/short100_validation.txt --model $MODEL \
    --output $OUT/validation_$MODEL.jsonl --eas-budget speech --eas-layers 1,2 \
    --eas-padding-tokens-list 300 --eas-padding-choice first
done
sed -n 151,300p $DEV/subset300.txt > $OUT/short150_validation2.txt
search --data $DEV --subset $OUT/short150_validation2.txt --model tiny.en \
  --output $OUT/validation2_tiny.en.jsonl --eas-budget speech --eas-layers 1,2 \
  --eas-padding-tokens-list 300 --eas-padding-choice first
