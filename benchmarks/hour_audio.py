"""Two recordings of about an hour each: the recordings of `data/long` joined in order until an
hour (group "tune"), and those of `data/long_rest` the same way (group "heldout", other
chapters), written as 16-bit WAV files with a manifest (`id`, `audio`, `text`, `duration_s`,
`group`). What a user's lecture or meeting is: where costs that grow with the file show
(its log-mel, its VAD, every segment reading every pause).

    python benchmarks/hour_audio.py --output data/hour
    python benchmarks/longform_versus_commit.py --before REV --data data/hour --limit 2 ...
"""

import argparse
import json
from pathlib import Path

from memory_long import build

SOURCES = (("long60", "data/long", "tune"), ("rest60", "data/long_rest", "heldout"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="data/hour")
    parser.add_argument("--minutes", type=float, default=60)
    args = parser.parse_args()
    output = Path(args.output)
    (output / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, source, group in SOURCES:
        if not (Path(source) / "manifest.jsonl").exists():
            raise SystemExit(f"{source} not found: build it first (build_long_audio.py, "
                             f"rest_manifests.py)")  # fmt: skip
        audio = Path("audio") / f"{name}.wav"
        seconds, text = build(Path(source), args.minutes, output / audio)
        rows.append({"id": name, "audio": str(audio), "text": text,
                     "duration_s": round(seconds, 2), "group": group})  # fmt: skip
        print(name, f"{seconds / 60:.1f} min", flush=True)
    (output / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
