"""How closely the approximate EAS scorers pick the exact scorer's tokens, on real speech.

For each utterance, the encoder runs up to the scoring block once; every scorer then ranks
the same hidden state, and we compare its kept set K with the exact one K*:
overlap = |K ∩ K*| / k (1.0 = the same tokens). `chunked` must give 1.0 (it is exact).
WER per scorer comes from `whisper-eas eval --eas-scorer ...` (see the README).

    python benchmarks/scorer_agreement.py --model base --limit 100 \
        --configs 1:0.5,2:0.5,3:0.5,2:0.3,2:0.6 --output benchmarks/results/scorer_agreement_base
"""

import argparse
import statistics
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from whisper_eas import EASConfig, Scoring, TopK, load_audio, load_model
from whisper_eas.audio import log_mel_spectrogram, pad_or_trim
from whisper_eas.research.bench import write_results
from whisper_eas.research.datasets import read_dataset
from whisper_eas.rules import SCORERS

DATA = Path(__file__).resolve().parents[2] / "shared/data/librispeech-dev-clean"


@torch.inference_mode()
def kept_sets(model, waveform, layer: int, sparsity: float) -> dict[str, set[int]]:
    """Kept token indices of every scorer at (layer, sparsity), first 30 s window."""
    mel = log_mel_spectrogram(pad_or_trim(waveform), model.dims.n_mels)[None]
    encoder = model.network.encoder
    x = encoder.stem(mel)
    for block in encoder.blocks[: layer - 1]:
        x = block(x, backend="sdpa")
    kept = {}
    for scorer in SCORERS:
        eas = EASConfig(layer, TopK(sparsity, Scoring(scorer=scorer)))
        hidden, received = encoder.blocks[layer - 1].forward_scored(x, eas)
        _, indices, _ = encoder.sparsifier(hidden, [received], eas, None)
        kept[scorer] = set(indices[0].tolist())
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="base")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--subset", default=str(DATA / "subset300.txt"))
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument(
        "--configs", default="1:0.5,2:0.5,3:0.5,2:0.3,2:0.6", help="layer:sparsity,..."
    )
    parser.add_argument("--output", required=True, help="path prefix for .json and .md")
    args = parser.parse_args()

    model = load_model(args.model)
    utterances = read_dataset(args.data, args.subset, args.limit)
    waveforms = [torch.from_numpy(load_audio(u.audio)) for u in utterances]
    configs = [
        (int(layer), float(sparsity))
        for layer, sparsity in (c.split(":") for c in args.configs.split(","))
    ]
    rows = []
    for layer, sparsity in configs:
        overlaps = {scorer: [] for scorer in SCORERS}
        for waveform in tqdm(waveforms, desc=f"({layer}, {sparsity})", file=sys.stderr):
            kept = kept_sets(model, waveform, layer, sparsity)
            for scorer in SCORERS:
                overlaps[scorer].append(len(kept[scorer] & kept["exact"]) / len(kept["exact"]))
        for scorer in SCORERS:
            values = overlaps[scorer]
            rows.append(
                {
                    "layer": layer,
                    "sparsity": sparsity,
                    "scorer": scorer,
                    "mean_overlap": statistics.mean(values),
                    "min_overlap": min(values),
                    "max_overlap": max(values),
                }
            )
    # The overlap expected by chance: a random keep set of k shares k/T of the exact one.
    result = {
        "model": args.model,
        "utterances": len(utterances),
        "data": args.data,
        "subset": args.subset,
        "chance_overlap": {f"{s}": 1 - s for _, s in configs},
        "rows": rows,
    }
    lines = [
        f"# Kept-set overlap with the exact scorer ({args.model}, {len(utterances)} dev-clean "
        "utterances)",
        "",
        "overlap = |K ∩ K_exact| / k per utterance; a random keep set would score 1 − s on "
        "average.",
        "",
        "| layer | sparsity | scorer | mean | min | max |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['layer']} | {r['sparsity']} | {r['scorer']} | {r['mean_overlap']:.3f} | "
        f"{r['min_overlap']:.3f} | {r['max_overlap']:.3f} |"
        for r in rows
    ]
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
