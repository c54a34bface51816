"""Is any sentence lost? Per utterance of a joined recording, the share of its reference words
that the long-form transcript deletes (word alignment after the English normaliser). Issue 11's
150 s case, rebuilt (data/issue150: 26 consecutive clips, 0.7 s gaps), by default.

    python benchmarks/lost_sentences.py --models tiny.en,base
"""

import argparse
import difflib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from longform import ours  # noqa: E402

from whisper_eas import EASConfig, load_audio  # noqa: E402

DEV = Path("../shared/data/librispeech-dev-clean")


def main() -> None:
    from whisper_normalizer.english import EnglishTextNormalizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--data", default="data/issue150")
    args = parser.parse_args()
    torch.set_num_threads(2)
    normalize = EnglishTextNormalizer()
    record = json.loads((Path(args.data) / "manifest.jsonl").read_text().splitlines()[0])
    references = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (DEV / "manifest.jsonl").read_text().splitlines()
    }
    utterances = record["utterances"]  # [id, start s, end s]
    owner, words = [], []  # each reference word and the utterance it belongs to
    for index, (utterance, _, _) in enumerate(utterances):
        piece = normalize(references[utterance]).split()
        words += piece
        owner += [index] * len(piece)
    wave = load_audio(Path(args.data) / record["audio"])
    for name in args.models.split(","):
        for label, eas in (("EAS off", None), ("recommended EAS", EASConfig.recommended(name))):
            text, _, _ = ours(name, eas)(wave)
            matcher = difflib.SequenceMatcher(a=words, b=normalize(text).split(), autojunk=False)
            found = [0] * len(utterances)
            for block in matcher.get_matching_blocks():
                for i in range(block.a, block.a + block.size):
                    found[owner[i]] += 1
            counts = [owner.count(i) for i in range(len(utterances))]
            lost = [
                f"{utterances[i][0]} ({utterances[i][1]:.1f}-{utterances[i][2]:.1f} s, "
                f"{counts[i] - found[i]}/{counts[i]} words missing)"
                for i in range(len(utterances))
                if found[i] < counts[i] / 2
            ]
            worst = max((counts[i] - found[i]) / counts[i] for i in range(len(utterances)))
            print(
                f"{name}, {label}: {len(utterances)} utterances, at most {100 * worst:.0f} % of an "
                f"utterance's words missing; lost (over half missing): {lost or 'none'}"
            )


if __name__ == "__main__":
    main()
