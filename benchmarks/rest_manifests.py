"""The recordings the standard runs leave out, as folders of their own: `data/long_rest` and
`data/gaps_rest` hold the manifest lines of `data/long` and `data/gaps` that `--limit 12`
(tune and held-out chapters alternating) does not take, speakers the 12 do not have first,
their groups relabelled tune / heldout alternately so that `--limit N` takes the first N.
The audio is a link to the folder's own.

    python benchmarks/rest_manifests.py        # after benchmarks/build_long_audio.py
    python benchmarks/gaps.py --data data/gaps_rest --limit 16 --systems "ours,..."
"""

import json
from pathlib import Path

from whisper_eas.research.bench import manifest_records

STANDARD = 12  # what the README's long-form and gap runs take (--limit 12)


def write_rest(folder: Path) -> int:
    records = [json.loads(line) for line in (folder / "manifest.jsonl").open()]
    taken = manifest_records(folder, STANDARD, "alternate")
    speakers = {r["id"].split("-")[0] for r in taken}
    rest = [r for r in records if r not in taken]
    rest.sort(key=lambda r: r["id"].split("-")[0] in speakers)  # stable: new speakers first
    for i, record in enumerate(rest):
        record["group"] = "tune" if i % 2 == 0 else "heldout"
    target = folder.with_name(folder.name + "_rest")
    target.mkdir(exist_ok=True)
    (target / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rest))
    if not (target / "audio").exists():
        (target / "audio").symlink_to(Path("..") / folder.name / "audio")
    return len(rest)


if __name__ == "__main__":
    for name in ("data/long", "data/gaps"):
        print(name + "_rest:", write_rest(Path(name)), "recordings")
