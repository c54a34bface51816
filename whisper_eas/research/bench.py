"""What every benchmark records beside its numbers: commit, device, and the two files it writes."""

import argparse
import compileall
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

from ..cpu import cpu_has


def git_commit() -> str:
    """The checkout's short commit hash, which results record; "unknown" outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def unpack_package_at(commit: str, folder: Path) -> Path:
    """The package `whisper_eas` as it was at `commit`, unpacked from git into `folder` (for
    benchmarks that compare this checkout with an earlier one); an unknown commit exits with
    one line naming it."""
    checkout = Path(__file__).resolve().parents[2]
    got = subprocess.run(["git", "archive", commit, "whisper_eas"], capture_output=True,
                         cwd=checkout)  # fmt: skip
    if got.returncode != 0:
        raise SystemExit(f"--before {commit}: git archive failed: {got.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        tar.extractall(folder, filter="data")
    # Its bytecode, as `make bytecode` compiles this checkout's: else each of its processes
    # compiles it anew (~0.05 s) where PYTHONDONTWRITEBYTECODE is set, as on these machines.
    compileall.compile_dir(folder / "whisper_eas", quiet=1)
    return folder / "whisper_eas"


def run_worker(tree: Path, code: str, *args) -> dict:
    """Run `code` (a worker's source, with `args` in its sys.argv) in a fresh process whose
    package is the one at `tree` (this checkout, or `unpack_package_at`'s folder's parent);
    returns the JSON object of its last line of output."""
    command = [sys.executable, "-c", code, *map(str, args)]
    out = subprocess.run(
        command, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def run_header(threads: int, device: str = "cpu", **extra) -> dict:
    """What a benchmark's results file says it was measured on: date, commit, device (with the
    CPU's flags), threads, torch, and `extra`."""
    caps = {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}
    return {"date": time.strftime("%Y-%m-%d"), "commit": git_commit(),
            "device": device_name(device) + isa_note(caps), "threads": threads,
            "torch": torch.__version__, **({"isa_caps": caps} if caps else {}),
            **extra}  # fmt: skip


# Variables that make the kernels use fewer instructions than the CPU has (oneDNN, ATen, MKL,
# CTranslate2): set, they emulate an older CPU's code paths, and a run says so.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
            "CT2_FORCE_CPU_ISA")  # fmt: skip


def isa_note(caps: dict) -> str:
    """What a device name adds where a run caps its kernels: ", kernels capped: ..."."""
    if not caps:
        return ""
    return ", kernels capped: " + ", ".join(f"{name}={value}" for name, value in caps.items())


def title(what: str, header: dict) -> str:
    """A results file's first line: what was measured, then what on, from a `run_header` (or
    a dict with its keys; threads and torch are named where the header has them)."""
    facts = [header["date"], f"commit {header['commit']}", header["device"]]
    if "threads" in header:
        facts.append(f"{header['threads']} threads")
    if "torch" in header:
        facts.append(f"torch {header['torch']}")
    return f"# {what} ({', '.join(facts)})"


def median_seconds(run, rounds: int = 3) -> float:
    """The median wall time of `rounds` calls of `run`, after one warm-up call."""
    run()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def take_turns(
    model, folder: str | Path, records: list[dict], variants: dict, on_result=None, **options
) -> dict:
    """Each record of a manifest transcribed alone (with `options`, transcribe's), once under
    each variant (name -> a function that sets the variant up, and may return more of
    transcribe's options for it), the variants taking turns
    record by record with the first rotating, so that a noisy minute costs them alike; one
    warm-up transcription first. Per variant: texts, seconds, windows decoded, fallbacks and
    WER against the records' texts. `on_result(name, record, result)`, if given, reads each
    Transcription after it is timed."""
    from ..transcribe import transcribe
    from .metrics import word_error_rate

    transcribe(model, str(Path(folder) / records[0]["audio"]), **options)  # warm-up
    names = list(variants)
    runs = {name: {"texts": [], "seconds": [], "windows": 0, "fallbacks": {}} for name in names}
    for k, record in enumerate(records):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            extra = variants[name]() or {}
            began = time.perf_counter()
            result = transcribe(model, str(Path(folder) / record["audio"]), **options, **extra)
            run = runs[name]
            run["seconds"].append(time.perf_counter() - began)
            run["texts"].append(result.text)
            run["windows"] += result.windows
            for reason, count in result.fallbacks.items():
                run["fallbacks"][reason] = run["fallbacks"].get(reason, 0) + count
            if on_result is not None:
                on_result(name, record, result)
        print(record["id"], {name: round(r["seconds"][-1], 2) for name, r in runs.items()})
    references = [record["text"] for record in records]
    for run in runs.values():
        run["wer"] = word_error_rate(references, run["texts"])
    return runs


def turns_arguments(doc: str, model: str = "tiny.en", data: str = "data/long", limit: int = 12):
    """The arguments of a `take_turns` benchmark: --model, --data, --limit, --threads, --output
    (a script adds its own before parsing)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--model", default=model)
    parser.add_argument("--data", default=data, help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=limit)
    parser.add_argument(
        "--pick", choices=PICKS, default="first",
        help="which recordings --limit takes: the manifest's first lines, or its tune and "
        "heldout recordings in turn (as benchmarks/longform.py)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    return parser


PICKS = ("first", "alternate")


def manifest_records(data: str | Path, limit: int, pick: str = "first") -> list[dict]:
    """`limit` recordings of a folder's manifest.jsonl: its first lines (`pick="first"`), or
    its `group` "tune" and "heldout" recordings in turn (`"alternate"`, what `longform.py`
    reads: half of them never used to choose a setting)."""
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}, got {pick!r}")
    lines = (Path(data) / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    if pick == "alternate":
        tune = [r for r in records if r.get("group") == "tune"]
        heldout = [r for r in records if r.get("group") == "heldout"]
        if not tune or not heldout:
            raise ValueError(
                f"{data}/manifest.jsonl has no 'tune' and 'heldout' groups to alternate"
            )
        records = [r for pair in zip(tune, heldout) for r in pair]
    return records[:limit]


def write_turns(args, records: list[dict], runs: dict, what: str, setting: str, note: str,
                **extra) -> None:  # fmt: skip
    """A `take_turns` benchmark's results: each variant's windows, WER, seconds, speed-up over
    the first variant and fallbacks, under a title naming what was measured and on what; `note`
    says what the variants share. Written as `args.output` .json and .md, and printed."""
    baseline = sum(next(iter(runs.values()))["seconds"])
    for run in runs.values():
        run["speedup"] = baseline / sum(run["seconds"])
    lengths = [record["duration_s"] for record in records]
    header = run_header(args.threads, model=args.model, data=args.data, **extra, pick=args.pick,
                        recordings=[r["id"] for r in records])  # fmt: skip
    picked = "its first lines" if args.pick == "first" else "tune and heldout in turn"
    lines = [
        title(what, header), "",
        f"{len(records)} recordings of `{args.data}` ({picked}; "
        f"{min(lengths):.0f}-{max(lengths):.0f} s, "
        f"{sum(lengths) / 60:.1f} min), {args.model}, {note}, one process taking turns. "
        "Speed-up: total seconds of the first row / this row's.", "",
        f"| {setting} | windows | WER % | seconds | speed-up | fallbacks |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        cells = [
            name, run["windows"], f"{100 * run['wer']:.2f}", f"{sum(run['seconds']):.1f}",
            f"{run['speedup']:.2f}×", run["fallbacks"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    result = {**header, "runs": {str(name): run for name, run in runs.items()}}
    write_results(args.output, result, "\n".join(lines))
    print("\n".join(lines))


def step_table(rows: list[dict], before: str, after: str) -> list[str]:
    """Markdown rows of a decoding-step A/B: per (model, dtype, rows) the two variants' ms
    (`row["ms"][before]`, `row["ms"][after]`), the speed-up, and whether the logits agree."""
    lines = [f"| model | dtype | rows | {before} ms | {after} ms | speed-up | same logits |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        then, now = row["ms"][before], row["ms"][after]
        lines.append(f"| {row['model']} | {row['dtype']} | {row['batch']} | {then:.2f} | "
                     f"{now:.2f} | {then / now:.2f}× | {row['same_logits']} |")  # fmt: skip
    return lines


def write_results(prefix: str | Path, result: dict, markdown: str) -> None:
    """A benchmark's results as PREFIX.json (for programs) and PREFIX.md (for people)."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    prefix.with_suffix(".md").write_text(markdown)


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's with the vector instructions torch uses on it (AVX2,
    AVX512) and the flags that decide our kernels: one "AMD EPYC" name covers machines with
    and without AVX-512 / bf16 / VNNI."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    present = cpu_flags()
    flags = "; " + " ".join(present) if present else ""
    return f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}{flags})"


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ct2_folder(name: str) -> Path:
    """A faster-whisper (CTranslate2) folder for a bundled model: its model.bin (the parts
    joined, in the cache) and tokenizer files. The independent int8 reference and the peer."""
    from ..hub import BUNDLED, _package_path, cache_root

    bundle = BUNDLED[name]
    parts = [_package_path(package, file) for package, file in bundle.parts]
    vocabulary = _package_path(*bundle.vocabulary)
    if len(parts) == 1:
        return parts[0].parent
    folder = cache_root() / f"ct2-{name}"
    if not (folder / "model.bin").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "model.bin.tmp", "wb") as joined:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, joined)
        for file in vocabulary.iterdir():
            if file.suffix == ".json":
                shutil.copy(file, folder / file.name)
        (folder / "model.bin.tmp").rename(folder / "model.bin")
    return folder


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    """The vector and matrix instructions this CPU has that decide our kernels (int8 products
    need VNNI to avoid int16 sums; bf16 is emulated without AVX512-BF16 or AMX)."""
    return [flag for flag in CPU_FLAGS if cpu_has(flag)]
