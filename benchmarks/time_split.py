"""Where the time of one long recording goes (issue 21): encoder, decoder steps, the VAD that
cuts the recording into parts, and the rest (log-mel, logit rules, segments), for the default
(parts decoded side by side) and `--batch-size 1` (whole), tiny.en and base, float32 and int8.

    python benchmarks/time_split.py --models tiny.en,base --dtypes float32,int8 --limit 4 \
        --output benchmarks/results/time_split_cpu

Recordings: data/long (benchmarks/build_long_audio.py). Each recording is transcribed alone
after one warm-up; the encoder and decoder are timed by forward hooks (research.metrics), the
VAD by timing `pauses_of`, and a greedy step's bf16-screened projection (`screening`, outside
the decoder's forward) counts as the decoder's. Fallback decodes are counted (their time is
inside the stages).
"""

import argparse
import importlib
import json
import time
from collections import Counter
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.metrics import StageTimer
from whisper_eas.screening import ScreenedProjection

# the module, not the function the package exports under its name
transcribe_module = importlib.import_module("whisper_eas.transcribe")


def timed(owner, names: list[str], seconds: Counter):
    """Wrap each attribute `names` of `owner` (a module's functions, a class's methods) so that
    its seconds add to `seconds[name]`; returns a function that puts the originals back."""
    originals = {name: getattr(owner, name) for name in names}

    def wrapped(name, inner):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - start

        return call

    for name, inner in originals.items():
        setattr(owner, name, wrapped(name, inner))
    return lambda: [setattr(owner, name, inner) for name, inner in originals.items()]


def measure(model, waves: list, batch_size: int, eas: EASConfig | None = None) -> dict:
    # `pauses_of`: the VAD's pass over a file (for the cuts and the word check). A greedy step
    # that screens its output projection in bf16 projects outside the decoder's forward
    # (`screening`): its time counts as the decoder's.
    vad, screen = Counter(), Counter()
    restores = [
        timed(transcribe_module, ["pauses_of"], vad),
        timed(ScreenedProjection, ["__call__", "refine"], screen),
    ]
    steps = Counter()
    handle = model.network.decoder.register_forward_pre_hook(
        lambda module, args: steps.update([args[0].shape[1] == 1])
    )
    fallbacks, windows, parts = Counter(), 0, 0
    try:
        with StageTimer(model.network) as timer:
            for wave in waves:
                with timer.run():
                    result = transcribe(model, wave, batch_size=batch_size, eas=eas)
                fallbacks.update(result.fallbacks)
                windows += result.windows
                parts += result.parts
    finally:
        handle.remove()
        for restore in restores:
            restore()
    seconds = dict(timer.totals)
    seconds["vad"], seconds["screen"] = vad["pauses_of"], sum(screen.values())
    seconds["decoder"] += seconds["screen"]
    seconds["other"] -= seconds["vad"] + seconds["screen"]
    return {
        "seconds": seconds,
        "decoder_calls": {"steps": steps[True], "prompts": steps[False]},
        "ms_per_decoder_call": 1000 * seconds["decoder"] / max(sum(steps.values()), 1),
        "windows": windows,
        "parts": parts,
        "fallbacks": dict(fallbacks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", default="parts,whole,parts+eas")
    parser.add_argument("--output", default="benchmarks/results/time_split_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    rows = rows[: args.limit]
    waves = [load_audio(Path(args.data) / row["audio"]) for row in rows]
    audio_seconds = sum(len(w) for w in waves) / 16000
    results = []
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            model = load_model(name, dtype=dtype)
            transcribe(model, waves[0][: 16000 * 20])  # warm-up
            for mode in args.modes.split(","):
                batch_size = 1 if mode.startswith("whole") else 8
                eas = EASConfig.recommended(name) if mode.endswith("+eas") else None
                measured = measure(model, waves, batch_size, eas)
                results.append({"model": name, "dtype": dtype, "mode": mode, **measured})
                total = measured["seconds"]["total"]
                print(f"{name} {dtype} {mode}: {total:.1f} s, RTF {total / audio_seconds:.4f}")
    lines = [
        "| model | dtype | mode | total s | encoder | decoder | VAD | other | decoder calls "
        "(steps + prompts) | ms per call | windows | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["seconds"]
        share = lambda k: f"{s[k]:.1f} ({100 * s[k] / s['total']:.0f} %)"  # noqa: E731
        calls = r["decoder_calls"]
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['mode']} | {s['total']:.1f} | {share('encoder')} "
            f"| {share('decoder')} | {share('vad')} | {share('other')} | {calls['steps']} + "
            f"{calls['prompts']} | {r['ms_per_decoder_call']:.2f} | {r['windows']} | "
            f"{sum(r['fallbacks'].values())} |"
        )
    header = run_header(
        args.threads, recordings=[row["audio"] for row in rows], audio_seconds=audio_seconds
    )
    text = (
        title("Where the time of a long recording goes", header) + "\n\n"
        f"{len(rows)} recordings of data/long, {audio_seconds / 60:.1f} min, each transcribed "
        "alone; greedy, defaults. Seconds (share of the total). `parts`: the default (cut at "
        "pauses, parts decoded side by side); `whole`: `--batch-size 1`; `+eas`: with `--eas` (the "
        "recommended truncation after block 1 for tiny.en, 2 for base). Decoder calls: one per "
        "generated token step of a batch, plus the prompt runs. The decoder's seconds include a "
        "greedy step's bf16-screened projection, where it runs (`screen` in the JSON).\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_results(args.output, {**header, "results": results}, text)
    print(text)


if __name__ == "__main__":
    main()
