"""Runs sharded over 2 CPU processes with torchrun (gloo): the merged results equal one
process's, and a resumed run does not redo what a rank finished."""

import json
import os
import subprocess
import sys

import pytest
from conftest import DATA

from whisper_eas.research.search import config_key, read_results

pytest.importorskip("jiwer")


def run(*arguments: str, processes: int = 1) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "whisper_eas"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node", str(processes), "-m", "whisper_eas"]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, *arguments], capture_output=True, text=True, env=environment, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def only_result(path):
    [record] = read_results(path)[1]
    return record


def test_two_processes_eval_equals_one_and_resumes_without_redoing_a_part(tmp_path):
    common = ["eval", "--data", str(DATA), "--model", "tiny.en", "--threads", "1"]
    run(*common, "--output", str(tmp_path / "one.jsonl"))
    run(*common, "--output", str(tmp_path / "two.jsonl"), processes=2)
    one, two = only_result(tmp_path / "one.jsonl"), only_result(tmp_path / "two.jsonl")
    assert list(two["hypotheses"].items()) == list(one["hypotheses"].items())
    assert two["wer"] == one["wer"] and two["windows"] == one["windows"]
    assert two["tokens_per_utterance"] == pytest.approx(one["tokens_per_utterance"])

    # Killed midway: rank 1 had finished its share, rank 0 its first utterance (and was
    # writing its next chunk). The rerun decodes only rank 0's other utterances.
    output = tmp_path / "two.jsonl"
    output.write_text(output.read_text().splitlines()[0] + "\n")  # the header alone
    parts = tmp_path / "two.jsonl.parts"
    [rank1] = parts.glob("*.1-of-2.jsonl")
    [rank0] = parts.glob("*.0-of-2.jsonl")
    record = json.loads(rank1.read_text())
    marked = {key: "RESUMED " + text for key, text in record["hypotheses"].items()}
    rank1.write_text(json.dumps({**record, "hypotheses": marked}) + "\n")
    record = json.loads(rank0.read_text())
    first = next(iter(record["hypotheses"]))
    partial = {**record, "hypotheses": {first: "RESUMED first"}}
    rank0.write_text(json.dumps(partial) + "\n" + '{"eas": null, "hypo')  # a torn last line
    run(*common, "--output", str(output), processes=2)
    again = only_result(output)
    assert again["key"] == config_key(None)
    texts = list(again["hypotheses"].values())
    assert texts[1::2] == list(marked.values())  # rank 1's share: read back, not decoded
    assert texts[0] == "RESUMED first"  # rank 0's first utterance: read back
    assert texts[2::2] == list(one["hypotheses"].values())[2::2]  # the rest: decoded again
    assert len(rank0.read_text().splitlines()) == 2  # the torn line gone, one chunk appended


def test_two_processes_search_equals_one(tmp_path):
    common = ["search", "--data", str(DATA), "--model", "tiny.en", "--threads", "1", "--limit",
              "4", "--eas-layers", "1", "--eas-budget", "speech", "--eas-padding-tokens-list",
              "100", "--eas-padding-choice", "first"]  # fmt: skip
    run(*common, "--output", str(tmp_path / "one.jsonl"))
    run(*common, "--output", str(tmp_path / "two.jsonl"), processes=2)
    one, two = read_results(tmp_path / "one.jsonl")[1], read_results(tmp_path / "two.jsonl")[1]
    assert [r["key"] for r in two] == [r["key"] for r in one] and len(one) == 2
    for a, b in zip(one, two):
        assert list(b["hypotheses"].items()) == list(a["hypotheses"].items())
        assert b["wer"] == a["wer"] and b["kept_tokens"] == pytest.approx(a["kept_tokens"])


def test_two_processes_transcribe_every_file_once_and_skip_what_exists(tmp_path):
    files = [str(path) for path in sorted(DATA.glob("*.flac"))[:3]]
    out = tmp_path / "out"
    run("transcribe", *files, "--model", "tiny.en", "--threads", "1", "--output-dir", str(out),
        processes=2)  # fmt: skip
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{os.path.basename(f).removesuffix('.flac')}.txt" for f in files)
    first = out / written[0]
    first.write_text("kept\n")
    run("transcribe", *files, "--model", "tiny.en", "--threads", "1", "--output-dir", str(out),
        "--skip-existing")  # fmt: skip
    assert first.read_text() == "kept\n"  # existed: not transcribed again
