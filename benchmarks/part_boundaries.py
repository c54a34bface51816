"""What cutting one recording into parts costs, at the cuts: WER of the utterances next to
each cut (the one before it and the one after it, or the one it falls in) against the same
utterances decoded whole, from a `longform.py` run with a parts system and its `-b1` twin.

The recordings of `data/long` are dev-clean utterances joined in reading order, with their
spans in the manifest. Each hypothesis is aligned to the reference (jiwer, after Whisper's
English normaliser, each utterance normalised alone), and each error is charged to the
utterance of its reference word (an insertion: to the word after it). The cuts are recomputed
as `transcribe`'s default makes them (`cut_times`: the VAD's pauses, the long ones shortened,
`whisper_eas.parts.split_points` on what is decoded, mapped back to the file).

    python benchmarks/part_boundaries.py --results benchmarks/results/longform_parts_cpu.json \
        --output benchmarks/results/part_boundaries_cpu
"""

import argparse
import importlib
import json
from pathlib import Path

import numpy as np

from whisper_eas import load_audio
from whisper_eas.audio import SAMPLE_RATE
from whisper_eas.parts import split_points
from whisper_eas.research.bench import title, write_results
from whisper_eas.research.datasets import read_dataset
from whisper_eas.vad import pauses_of

PAIRS = (("ours", "ours-b1"), ("ours-int8", "ours-int8-b1"))


def errors_per_utterance(references: list[str], hypothesis: str) -> list[int]:
    """Word errors charged to each utterance of a recording (references: its normalised
    utterance texts, in order)."""
    import jiwer

    owner = [i for i, text in enumerate(references) for _ in text.split()]
    reference = " ".join(references)
    errors = [0] * len(references)
    alignment = jiwer.process_words(reference, hypothesis or "<empty>")
    for chunk in alignment.alignments[0]:
        if chunk.type == "equal":
            continue
        if chunk.type == "insert":
            at = min(chunk.ref_start_idx, len(owner) - 1)
            errors[owner[at]] += chunk.hyp_end_idx - chunk.hyp_start_idx
        else:
            for index in range(chunk.ref_start_idx, chunk.ref_end_idx):
                errors[owner[index]] += 1
    return errors


def cut_times(waveform: np.ndarray) -> list[float]:
    """Where the default `transcribe` starts a recording's parts after the first (seconds in
    the file), as `transcribe.open_recording` finds them: on what it decodes of the recording
    (since commit 6097e18 its pauses shortened), mapped back to the file."""
    module = importlib.import_module("whisper_eas.transcribe")
    skip = module.transcribe.__kwdefaults__["skip_silence"]
    pauses = pauses_of(waveform)
    heard = module.audio_to_decode(pauses, len(waveform), skip, None)
    if heard is None:
        return [cut / SAMPLE_RATE for cut in split_points(waveform, None, pauses)]
    cuts = split_points(heard.join(waveform), None, heard.joined_pauses(pauses))
    return [heard.original(cut / SAMPLE_RATE, cut / SAMPLE_RATE)[0] for cut in cuts]


def next_to(cut: float, spans: list[tuple[float, float]]) -> set[int]:
    """The utterances on either side of a cut (seconds), or the one it falls in."""
    inside = [i for i, (start, end) in enumerate(spans) if start < cut < end]
    if inside:
        return set(inside)
    before = [i for i, (_, end) in enumerate(spans) if end <= cut]
    after = [i for i, (start, _) in enumerate(spans) if start >= cut]
    return {i for i in (before[-1:] + after[:1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="benchmarks/results/longform_parts_cpu.json")
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--dev-clean", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="benchmarks/results/part_boundaries_cpu")
    parser.add_argument(
        "--whole-results", help="a run with the `-b1` systems on the same recordings (default: "
        "--results); whole decoding does not change when the cutting does"
    )  # fmt: skip
    args = parser.parse_args()
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    run = json.loads(Path(args.results).read_text())
    whole_run = json.loads(Path(args.whole_results or args.results).read_text())
    if whole_run["recordings"] != run["recordings"]:
        raise SystemExit("--whole-results holds other recordings than --results")
    manifest = {
        r["id"]: r
        for r in map(json.loads, (Path(args.data) / "manifest.jsonl").read_text().splitlines())
    }
    texts = {u.id: u.text for u in read_dataset(args.dev_clean, None, None)}
    recordings = []
    for rid in run["recordings"]:
        record = manifest[rid]
        utterances = record["utterances"]
        if isinstance(utterances, str):
            utterances = json.loads(utterances.replace("'", '"'))
        cuts = cut_times(load_audio(Path(args.data) / record["audio"]))
        spans = [(start, end) for _, start, end in utterances]
        near = set().union(*(next_to(cut, spans) for cut in cuts)) if cuts else set()
        inside = sum(any(s < cut < e for s, e in spans) for cut in cuts)
        references = [normalize(texts[uid]) for uid, _, _ in utterances]
        recordings.append((rid, references, near, len(cuts), inside))
    result = {"source": args.results, "whole_source": args.whole_results or args.results,
              "commit": run["commit"], "date": run["date"],
              "device": run["device"], "rows": []}  # fmt: skip
    for name, table in run["models"].items():
        whole_table = whole_run["models"].get(name, {})
        for cut_system, whole_system in PAIRS:
            if cut_system not in table or whole_system not in whole_table:
                continue
            counts = {"boundary": [0, 0, 0], "other": [0, 0, 0]}  # words, errors cut, whole
            n_cuts = n_inside = 0
            for i, (rid, references, near, cuts, inside) in enumerate(recordings):
                n_cuts, n_inside = n_cuts + cuts, n_inside + inside
                cut = errors_per_utterance(
                    references, normalize(table[cut_system]["hypotheses"][i])
                )
                whole = errors_per_utterance(
                    references, normalize(whole_table[whole_system]["hypotheses"][i])
                )
                for u, text in enumerate(references):
                    group = counts["boundary" if u in near else "other"]
                    group[0] += len(text.split())
                    group[1] += cut[u]
                    group[2] += whole[u]
            row = {"model": name, "system": cut_system, "whole": whole_system, "cuts": n_cuts,
                   "cuts_inside_an_utterance": n_inside}  # fmt: skip
            for group, (words, errors_cut, errors_whole) in counts.items():
                row[f"{group}_words"] = words
                row[f"{group}_errors_cut"] = errors_cut
                row[f"{group}_errors_whole"] = errors_whole
            result["rows"].append(row)
            print(row, flush=True)
    lines = [title("What the cuts cost: WER next to each part boundary", run), "",
             f"From `{args.results}` (whole: `{args.whole_results or args.results}`, "
             f"{len(recordings)} recordings). Boundary utterances: the one "
             "before and the one after each cut (or the one a cut falls in).", "",
             "| model | system | cuts (inside an utterance) | boundary words | boundary WER % "
             "cut / whole | other words | other WER % cut / whole |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["rows"]:
        b = 100 / max(r["boundary_words"], 1)
        o = 100 / max(r["other_words"], 1)
        lines.append(
            f"| {r['model']} | {r['system']} | {r['cuts']} ({r['cuts_inside_an_utterance']}) | "
            f"{r['boundary_words']} | {r['boundary_errors_cut'] * b:.2f} / "
            f"{r['boundary_errors_whole'] * b:.2f} | {r['other_words']} | "
            f"{r['other_errors_cut'] * o:.2f} / {r['other_errors_whole'] * o:.2f} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
