"""No-speech probabilities of real speech, to set the silence rule's threshold with a margin.

Decodes the first window of 60 dev-clean clips (every 5th of subset300) and of 20 speech-filled
27-30 s windows (every 8th of data/windows, from build_long_audio.py), with timestamps, and
prints the highest no-speech probabilities with the window's word count and average log-prob.

    python benchmarks/no_speech.py base
"""

import json
import sys

import torch

from whisper_eas import DecodingOptions, decode, load_audio, load_model
from whisper_eas.transcribe import Window, encode, file_mel

DEV = "../shared/data/librispeech-dev-clean/"


def main(name: str) -> None:
    torch.set_num_threads(1)
    model = load_model(name)
    ids = [line.strip() for line in open(DEV + "subset300.txt")][:300:5]
    manifest = {json.loads(line)["id"]: json.loads(line) for line in open(DEV + "manifest.jsonl")}
    windows = [json.loads(line) for line in open("data/windows/manifest.jsonl")][::8]
    waves = [load_audio(DEV + manifest[i]["audio"]) for i in ids]
    waves += [load_audio("data/windows/" + w["audio"]) for w in windows]
    language = "en" if model.tokenizer.multilingual else None
    options = DecodingOptions(timestamps=True, language=language)
    found = []
    for start in range(0, len(waves), 4):
        batch = [Window(file_mel(w, model.dims.n_mels)[:, :3000], min(len(w), 480_000))
                 for w in waves[start : start + 4]]  # fmt: skip
        for r in decode(model, encode(model, batch, None), options):
            found.append((round(r.no_speech_prob, 4), len(r.text.split()), round(r.avg_logprob, 2)))
    found.sort(reverse=True)
    print(name, len(found), "windows; highest (no-speech prob, words, avg log-prob):", found[:8])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "base")
