"""Ours against faster-whisper's `vad_filter` over every gap set at once: the WER of all their
words pooled, and its substitutions, deletions and insertions, from the texts that
`benchmarks/gaps.py` saved (ours from each set's latest run of ours, `vad_filter` from its
last run, whose texts do not change with our code; the sets' manifests must be built, see each
row's script). Ours again on a set: `python benchmarks/gaps.py --models tiny.en,base --data D
--pick first --limit N --systems "ours,ours --eas" --output benchmarks/results/R` (data/gaps:
`--pick alternate`), with D, N and R as in SETS. One set's WER moves by a few tenths with
any change; pooled over ten sets, a difference that holds on most of them shows. How sure
that difference is: a paired bootstrap over the recordings (resampled within each set, 10,000
times), and how many recordings each system reads better.

    python benchmarks/gaps_pooled.py --output benchmarks/results/gaps_pooled_cpu
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from whisper_eas.research.bench import run_header

RESULTS = Path("benchmarks/results")
# (set, its folder, the result holding ours, the result holding faster-whisper vad_filter)
SETS = [
    ("data/gaps, 12", "data/gaps", "gaps12_head_zen4_cpu", "gaps12_zen5_cpu"),
    (
        "data/gaps_rest, 28",
        "data/gaps_rest",
        "gaps_rest28_head_zen4_cpu",
        "gaps_rest28_shortened_cpu",
    ),
    ("data/gaps_music, 12", "data/gaps_music", "gaps_music_head_zen4_cpu", "gaps_music_cpu"),
    ("data/gaps_edges, 10", "data/gaps_edges", "gaps_edges_head_zen4_cpu", "gaps_edges_cpu"),
    ("data/gaps_tail, 7", "data/gaps_tail", "gaps_tail7_head_zen4_cpu", "gaps_tail7_cpu"),
    ("last ~200 s, 12", "data/gaps_last200", "gaps_last200_head_zen4_cpu", "gaps_last200_12_cpu"),
    ("data/gaps_more, 8", "data/gaps_more", "gaps_more_head_zen4_cpu", "gaps_more_cpu"),
    (
        "data/music_nofade, 16",
        "data/music_nofade",
        "music_nofade16_head_zen4_cpu",
        "music_nofade16_cpu",
    ),
    ("data/short_gaps, 47", "data/short_gaps", "short_gaps47_head_zen4_cpu", "short_gaps47_cpu"),
    ("data/mid_gaps, 20", "data/mid_gaps", "mid_gaps20_head_zen4_cpu", "mid_gaps20_cpu"),
]
SYSTEMS = {"ours": "ours", "ours --eas": "ours --eas", "vad_filter": "faster-whisper vad_filter"}
EMPTY = {"S": 0, "D": 0, "I": 0, "words": 0}


def counts(references: list[str], hypotheses: list[str]) -> dict:
    """Errors by kind, and the reference's words, after Whisper's English normaliser."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    out = jiwer.process_words([normalize(r) for r in references],
                              [normalize(h) for h in hypotheses])  # fmt: skip
    words = out.substitutions + out.deletions + out.hits
    return {"S": out.substitutions, "D": out.deletions, "I": out.insertions, "words": words}


def per_recording(references: list[str], hypotheses: list[str]) -> list[list[int]]:
    """Each recording's [errors (S + D + I), reference words], for the bootstrap."""
    out = []
    for reference, hypothesis in zip(references, hypotheses):
        c = counts([reference], [hypothesis])
        out.append([c["S"] + c["D"] + c["I"], c["words"]])
    return out


def bootstrap(groups: list[np.ndarray], draws: int = 10_000, seed: int = 0) -> list[float]:
    """The 2.5th and 97.5th percentiles of the pooled WER difference (points), ours minus
    vad_filter. groups: one (recordings, 3) array per set of (ours' errors, vad_filter's,
    words); each set's recordings are drawn with replacement, its size kept."""
    generator = np.random.default_rng(seed)
    totals = np.zeros((draws, 3))
    for group in groups:
        picks = generator.integers(0, len(group), size=(draws, len(group)))
        totals += group[picks].sum(axis=1)
    differences = 100 * (totals[:, 0] - totals[:, 1]) / totals[:, 2]
    return [float(x) for x in np.percentile(differences, [2.5, 97.5])]


def set_counts(folder: str, result: str, system: str, model: str) -> dict | None:
    """A system's counts on one set, from a saved result (None: the result did not run it)."""
    saved = json.loads((RESULTS / f"{result}.json").read_text())
    if system not in saved["models"][model]:
        return None
    manifest = Path(folder, "manifest.jsonl")
    if not manifest.exists():
        raise SystemExit(f"{manifest} not found: build the set first (the script its README "
                         f"row or docs/gaps.md names)")  # fmt: skip
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    texts = dict(zip(saved["recordings"], saved["models"][model][system]["texts"]))
    references = {row["id"]: row["text"] for row in rows}
    ordered = [references[i] for i in texts]
    return counts(ordered, list(texts.values())) | {
        "commit": saved["commit"],
        "per_recording": dict(zip(texts, per_recording(ordered, list(texts.values())))),
    }


def wer(c: dict) -> float:
    return 100 * (c["S"] + c["D"] + c["I"]) / c["words"]


def sign_test(better: int, worse: int) -> float:
    """Two-sided p of so uneven a split of the recordings that differ, were each a coin toss."""
    n, k = better + worse, min(better, worse)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def paired_difference(sets: dict, model: str, name: str) -> dict:
    """Ours (`name`) against vad_filter on the recordings both ran: the pooled difference,
    its bootstrap interval, and the recordings each reads better."""
    groups, better, worse = [], 0, 0
    for rows in sets.values():
        ours, vad = rows[model][name], rows[model]["vad_filter"]
        if ours is None:
            continue
        both = [r for r in ours["per_recording"] if r in vad["per_recording"]]
        group = np.array([[ours["per_recording"][r][0], *vad["per_recording"][r]] for r in both])
        better += int((group[:, 0] < group[:, 1]).sum())
        worse += int((group[:, 0] > group[:, 1]).sum())
        groups.append(group)
    total = np.concatenate(groups).sum(axis=0)
    return {
        "recordings": sum(len(g) for g in groups),
        "difference": float(100 * (total[0] - total[1]) / total[2]),
        "interval": bootstrap(groups),
        "better": better,
        "worse": worse,
        "same": sum(len(g) for g in groups) - better - worse,
        "sign_test_p": sign_test(better, worse),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    result = {**run_header(1), "sets": {}, "pooled": {}}
    lines, sure = [], []
    kinds = lambda c: f"**{wer(c):.2f}** (S {c['S']}, D {c['D']}, I {c['I']})"  # noqa: E731
    for model in args.models.split(","):
        pooled = {name: dict(EMPTY) for name in SYSTEMS}
        vad_beside_eas = dict(EMPTY)  # vad_filter on the sets that ran `--eas`
        for title, folder, ours_result, vad_result in SETS:
            row = {}
            for name, system in SYSTEMS.items():
                source = vad_result or ours_result if name == "vad_filter" else ours_result
                row[name] = set_counts(folder, source, system, model)
            for name, counted in row.items():
                for kind in EMPTY:
                    pooled[name][kind] += counted[kind] if counted else 0
                    if name == "vad_filter" and row["ours --eas"]:
                        vad_beside_eas[kind] += counted[kind]
            result["sets"].setdefault(title, {})[model] = row
            eas = f"{wer(row['ours --eas']):.2f}" if row["ours --eas"] else "–"
            lines.append(f"| {model} | {title} | {wer(row['ours']):.2f} | {eas} | "
                         f"{wer(row['vad_filter']):.2f} | {row['ours']['commit']} | "
                         f"{row['vad_filter']['commit']} |")  # fmt: skip
        result["pooled"][model] = {**pooled, "vad_filter beside --eas": vad_beside_eas}
        for name in ("ours", "ours --eas"):
            paired = paired_difference(result["sets"], model, name)
            result["pooled"][model][f"{name} - vad_filter"] = paired
            low, high = paired["interval"]
            sure.append(f"| {model} | {name} | {paired['recordings']} | "
                        f"{paired['difference']:+.2f} | {low:+.2f} to {high:+.2f} | "
                        f"{paired['better']} / {paired['worse']} / {paired['same']} | "
                        f"{paired['sign_test_p']:.3f} |")  # fmt: skip
        ours, eas, vad = pooled["ours"], pooled["ours --eas"], pooled["vad_filter"]
        lines.append(f"| **{model}** | **all, pooled ({ours['words']} words)** | {kinds(ours)} "
                     f"| | {kinds(vad)} | | |")  # fmt: skip
        lines.append(f"| **{model}** | **the sets that ran `--eas`, pooled ({eas['words']} "
                     f"words)** | | {kinds(eas)} | {kinds(vad_beside_eas)} | | |")  # fmt: skip
    output = Path(args.output)
    output.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    table = [
        f"# Gap sets pooled: ours against faster-whisper vad_filter ({result['date']})",
        "",
        "WER % of each set, ours at its latest run and faster-whisper's vad_filter at its "
        "last (greedy, float32, word timing on), and of all their words pooled, with "
        "substitutions, deletions and insertions.",
        "",
        "| model | set | ours | ours --eas | vad_filter | ours' commit | vad_filter's commit |",
        "|---|---|---|---|---|---|---|",
        *lines,
        "",
        "## How sure the difference is",
        "",
        "Ours minus vad_filter, pooled WER points, over the recordings both ran; the interval: "
        "a paired bootstrap over the recordings, each set's resampled within it (10,000 draws). "
        "Recordings read better / worse / the same by ours, and a sign test's two-sided p "
        "over those that differ.",
        "",
        "| model | ours | recordings | difference | 95 % interval | better / worse / same "
        "| sign test p |",
        "|---|---|---|---|---|---|---|",
        *sure,
    ]
    output.with_suffix(".md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
