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

    # Killed after rank 1 wrote its part: the rerun decodes only rank 0's share again.
    output = tmp_path / "two.jsonl"
    output.write_text(output.read_text().splitlines()[0] + "\n")  # the header alone
    parts = tmp_path / "two.jsonl.parts"
    [part] = parts.glob("*.1-of-2.json")
    record = json.loads(part.read_text())
    marked = {key: "RESUMED " + text for key, text in record["hypotheses"].items()}
    part.write_text(json.dumps({**record, "hypotheses": marked}))
    for rank0 in parts.glob("*.0-of-2.json"):
        rank0.unlink()
    run(*common, "--output", str(output), processes=2)
    again = only_result(output)
    assert again["key"] == config_key(None)
    texts = list(again["hypotheses"].values())
    assert texts[1::2] == list(marked.values())  # rank 1's share: read back, not decoded
    assert texts[0::2] == list(one["hypotheses"].values())[0::2]  # rank 0's: decoded again


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
