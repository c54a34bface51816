"""Compare the searches of benchmarks/rules_unchanged.sh run at two commits (and, where they
overlap, the committed results files): setting by setting, are the hypotheses the same?

    python benchmarks/rules_unchanged.py BEFORE AFTER [COMMITTED.jsonl ...] --output NAME

Writes NAME.json and NAME.md: per setting, the utterances compared and how many differ.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from whisper_eas.research.bench import write_results  # noqa: E402
from whisper_eas.research.report import label  # noqa: E402
from whisper_eas.research.search import read_results  # noqa: E402


def results(paths: list[Path]) -> tuple[dict[str, dict], list[dict]]:
    """{key: record} and the headers of the files."""
    found, headers = {}, []
    for path in paths:
        header, records = read_results(path)
        headers.append({"file": str(path), **{k: header.get(k) for k in ("commit", "date")}})
        found.update({r["key"]: r for r in records})
    return found, headers


def compare(a: dict, b: dict) -> dict:
    shared = sorted(set(a["hypotheses"]) & set(b["hypotheses"]))
    differ = [u for u in shared if a["hypotheses"][u] != b["hypotheses"][u]]
    return {"compared": len(shared), "differ": len(differ), "examples": differ[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("committed", type=Path, nargs="*")
    parser.add_argument("--output", default="benchmarks/results/rules_unchanged")
    args = parser.parse_args()
    before, before_headers = results(sorted(args.before.glob("*.jsonl")))
    after, after_headers = results(sorted(args.after.glob("*.jsonl")))
    committed, committed_headers = results(args.committed)
    rows = []
    for key, record in after.items():
        row = {"key": key, "label": label(record), "wer": record["wer"]}
        if key in before:
            row["before"] = compare(before[key], record)
        if key in committed:
            row["committed"] = compare(committed[key], record)
        rows.append(row)
    lines = [
        "| setting | WER % after | same as before (differ / compared) | same as committed |",
        "|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            f"{row[side]['differ']} / {row[side]['compared']}" if side in row else "-"
            for side in ("before", "committed")
        ]
        lines.append(f"| {row['label']} | {100 * row['wer']:.2f} | {cells[0]} | {cells[1]} |")
    payload = {
        "before": before_headers,
        "after": after_headers,
        "committed": committed_headers,
        "settings": rows,
    }
    text = (
        "# The built-in keep rules as classes: the same hypotheses (issue 23)\n\n"
        f"Before: {before_headers[0]['commit']}; after: {after_headers[0]['commit']}; "
        "tiny.en, 50 short dev-clean clips (`benchmarks/rules_unchanged.sh`). Committed: "
        + ", ".join(h["file"] for h in committed_headers)
        + ".\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_results(args.output, payload, text)
    print(text)


if __name__ == "__main__":
    main()
