"""No-speech probabilities where the silence rules are at risk, to choose what they read.

The risky speech is a long recording's last window holding a second or two of speech after a
long previous-text prompt; the risky non-speech is silence and noise, alone or after speech.
For the last 0.6, 1.0, 1.5 and 2.5 s of each of the 28 recordings (data/long, from
build_long_audio.py), decoded as a later window (log-mel zero padding) with the model's own
text of the 30 s before it as the prompt, and for zeros, white noise and hum of 0.3-30 s (as a
file's only window, and as a later window after such a prompt), prints the no-speech probability
with the prompt (openai-whisper's) and without it, the words, the average log-prob, and how many
windows each rule calls silence.

    python benchmarks/no_speech.py --models tiny.en,base --output benchmarks/results/no_speech_cpu
"""

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import torch

from whisper_eas import DecodingOptions, Safeguards, decode, load_audio, load_model
from whisper_eas.research.bench import run_header, title, write_results

transcription = importlib.import_module("whisper_eas.transcribe")  # the package has a function
TAILS = (0.6, 1.0, 1.5, 2.5)  # seconds of speech in the last window


def later_window(wave: np.ndarray, n_mels: int):
    """`wave` as the window after 2 s of something else: padded as a file's last window."""
    lead = np.zeros(2 * 16000, dtype=np.float32)
    audio = np.concatenate([lead, wave])
    mel = transcription.file_mel(audio, n_mels)
    return transcription._File(0, len(audio), mel, seek=len(lead)).window()


def only_window(wave: np.ndarray, n_mels: int):
    return transcription._File(0, len(wave), transcription.file_mel(wave, n_mels)).window()


def decode_windows(model, windows, prompts):
    options = DecodingOptions(timestamps=True)
    found = []
    for start in range(0, len(windows), 8):
        audio = transcription.encode(model, windows[start : start + 8], None)
        found += decode(model, audio, options, prompts[start : start + 8])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--output", default="benchmarks/results/no_speech_cpu")
    args = parser.parse_args()
    torch.set_num_threads(2)
    records = [json.loads(line) for line in open(Path(args.data) / "manifest.jsonl")]
    waves = [load_audio(Path(args.data) / r["audio"]) for r in records]
    rng = np.random.default_rng(0)
    noise = lambda level, s: (level * rng.standard_normal(int(s * 16000))).astype(np.float32)  # noqa: E731
    hum = lambda s: (0.02 * np.sin(2 * np.pi * 50 * np.arange(int(s * 16000)) / 16000)).astype(  # noqa: E731
        np.float32
    )
    negatives = {
        "zeros": [np.zeros(int(s * 16000), dtype=np.float32) for s in (0.3, 1, 5, 10, 30)],
        "white noise 0.05": [noise(0.05, s) for s in (0.3, 1, 5, 10)],
        "white noise 0.003": [noise(0.003, s) for s in (0.3, 1, 5, 10)],
        "50 Hz hum": [hum(s) for s in (1, 10)],
    }
    result = run_header(torch.get_num_threads(), models={})
    safeguards = Safeguards()
    lines = [
        title("No-speech probabilities where the silence rules are at risk", result),
        "",
        "| model | windows | n | no-speech prompted: max | alone: max / min | "
        "openai rule: silence | + sure rule on prompted | + sure rule on alone (ours) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models.split(","):
        model = load_model(name)
        n_mels = model.dims.n_mels
        # The prompt of each recording's last window: the model's text of the 30 s before it.
        before = [only_window(w[-46 * 16000 : -16 * 16000], n_mels) for w in waves]
        plain = DecodingOptions()
        prompts = []
        for start in range(0, len(before), 8):
            audio = transcription.encode(model, before[start : start + 8], None)
            prompts += [r.tokens for r in decode(model, audio, plain)]
        groups = {}
        for seconds in TAILS:
            windows = [later_window(w[-int(seconds * 16000) :], n_mels) for w in waves]
            groups[f"speech: last {seconds} s, prompted"] = (windows, prompts)
        for label, clips in negatives.items():
            groups[f"{label}: only window"] = ([only_window(c, n_mels) for c in clips], None)
            windows = [later_window(c, n_mels) for c in clips]
            groups[f"{label}: after speech, prompted"] = (windows, prompts[: len(clips)])
        table = {}
        for label, (windows, group_prompts) in groups.items():
            found = decode_windows(model, windows, group_prompts or [[]] * len(windows))
            openai = [r.no_speech_prob > 0.6 and r.avg_logprob < -1.0 for r in found]
            short = [len(r.text.split()) <= safeguards.silence_max_words for r in found]
            on_prompted = [
                o or (r.no_speech_prob > 0.7 and s) for o, r, s in zip(openai, found, short)
            ]
            ours = [safeguards.is_silence(r) for r in found]
            table[label] = {
                "windows": [
                    {
                        "no_speech": r.no_speech_prob,
                        "no_speech_alone": r.no_speech_prob_alone,
                        "avg_logprob": r.avg_logprob,
                        "text": r.text,
                    }
                    for r in found
                ],  # fmt: skip
                "silence": {
                    "openai": sum(openai),
                    "sure_on_prompted": sum(on_prompted),
                    "ours": sum(ours),
                },  # fmt: skip
            }
            prompted = [r.no_speech_prob for r in found]
            alone = [r.no_speech_prob_alone for r in found]
            lines.append(
                f"| {name} | {label} | {len(found)} | {max(prompted):.3f} | "
                f"{max(alone):.3f} / {min(alone):.3f} | {sum(openai)} | {sum(on_prompted)} | "
                f"{sum(ours)} |"
            )
            print(lines[-1], flush=True)
        result["models"][name] = table
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
