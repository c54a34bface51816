"""What every benchmark records beside its numbers: commit, device, and the two files it writes."""

import json
import platform
import subprocess
from pathlib import Path

import torch


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


def write_results(prefix: str | Path, result: dict, markdown: str) -> None:
    """A benchmark's results as PREFIX.json (for programs) and PREFIX.md (for people)."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    prefix.with_suffix(".md").write_text(markdown)


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's with the vector instructions torch uses on it (AVX2,
    AVX512): one "AMD EPYC" name covers machines with and without AVX-512 / bf16 / VNNI."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()})"


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
