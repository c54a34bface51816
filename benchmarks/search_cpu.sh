#!/usr/bin/env bash
# The architecture searches committed under benchmarks/results/, as run on the project's
# CPU machine (2 threads, fp32, batch 1, nothing else running). One base configuration takes
# ~5 min on the 300 utterances there, so the grids are thinned from the paper's
# layers x {0.1..0.9} to the paper's region of interest (s = 0.3 to 0.5 at early layers).
# Every call appends to the same file, which resumes: add layers or sparsities to fill in.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/librispeech-dev-clean
RESULTS=benchmarks/results
search() { whisper-eas search --data $DATA --subset $DATA/subset300.txt "$@"; }

search --model base --layers 1,2,3,4 --sparsities 0.5 --output $RESULTS/search_base_dev300.jsonl
# At s = 0.5 only layer 4 stays within 1 % of the baseline's accuracy on these 300, so s = 0.3.
search --model base --layers 1,2,3 --sparsities 0.3 --output $RESULTS/search_base_dev300.jsonl
# tiny.en loses more than 1 % accuracy at s = 0.5 (except at layer 3: 1.2 %), so lower sparsities too.
search --model tiny.en --layers 1,2,3 --sparsities 0.5 --output $RESULTS/search_tiny.en_dev300.jsonl
search --model tiny.en --layers 1,2,3 --sparsities 0.3 --output $RESULTS/search_tiny.en_dev300.jsonl
search --model tiny.en --layers 3 --sparsities 0.4 --output $RESULTS/search_tiny.en_dev300.jsonl
search --model tiny.en --layers 4 --sparsities 0.5 --output $RESULTS/search_tiny.en_dev300.jsonl
# Table 2: drop at the last layer, importance aggregated over all layers; only WER matters,
# so 50 utterances.
search --model base --limit 50 --layers 6 --cross-layer --aggregates mean,max,min,geometric_mean,random \
    --sparsities 0.5,0.7 --output $RESULTS/table2_base_dev50.jsonl
# Later (oneDNN linear layers and the one-pass exact scorer made every configuration faster,
# so RTFs above are from older code): the baseline and layer 4 re-measured at one commit, with
# higher sparsities at layer 4, the gentlest admissible layer above.
search --model base --layers 4 --sparsities 0.5,0.6,0.7 --output $RESULTS/search_base_dev300_layer4.jsonl
