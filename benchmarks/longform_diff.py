"""One long recording, ours against faster-whisper's long-form (same weights, greedy): both
systems' segments with times, then the word-level differences after the English normaliser.

    python benchmarks/longform_diff.py --model base --recording 1272-141231
"""

import argparse
import difflib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from longform import faster_whisper, ours  # noqa: E402

from whisper_eas import load_audio  # noqa: E402
from whisper_eas.research.metrics import word_error_rate  # noqa: E402


def main() -> None:
    from whisper_normalizer.english import EnglishTextNormalizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--recording", default="1272-141231")
    parser.add_argument("--data", default="data/long")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lines = (Path(args.data) / "manifest.jsonl").read_text().splitlines()
    record = next((r for r in map(json.loads, lines) if r["id"] == args.recording), None)
    if record is None:
        parser.error(f"no recording {args.recording!r} in {args.data}/manifest.jsonl")
    wave = load_audio(Path(args.data) / record["audio"])
    texts = {}
    for name, run in (
        ("ours", ours(args.model, None)),
        ("faster-whisper", faster_whisper(args.model)),
    ):
        text, _, segments = run(wave)
        texts[name] = text
        print(f"{name}: WER {100 * word_error_rate([record['text']], [text]):.2f} %")
        for s in segments:
            print(f"  {s.start:7.2f} {s.end:7.2f} {s.text.strip()}")
    normalise = EnglishTextNormalizer()
    a, b = normalise(texts["ours"]).split(), normalise(texts["faster-whisper"]).split()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            print(f"{tag}: ours {' '.join(a[i1:i2])!r} | faster-whisper {' '.join(b[j1:j2])!r}")


if __name__ == "__main__":
    main()
