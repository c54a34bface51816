"""Pack what a GPU lease needs into folders that fit its calls, and say which calls to make.

The GPU machine lent here has torch and transformers but no network, no PyAV and none of our
weight packages, and each call carries at most 64 MiB with the checkout (docs/gpu.md). This
writes the bundled models as float16 Hugging Face folders (exact: the checkpoints are float16
values), PyAV and the small subtitle packages as wheels, and a data folder, cut into pieces
spread over `.lease/c1`, `.lease/c2`, ... Each call copies its folder into /tmp/gpu on the
machine (a folder in the checkout does not outlive a call); the last one runs `setup.sh`,
which joins the pieces, checks their SHA-256 and installs the wheels, then your command.

    python scripts/gpu_lease.py --models tiny.en,base --data data/gpu3
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

LIMIT = 64 * 2**20  # a call's working tree and carried folders together
ROOT = Path(__file__).resolve().parent.parent


def travelling_bytes() -> int:
    """What every call sends anyway: tracked files and untracked ones git does not ignore."""
    command = ["git", "ls-files", "-co", "--exclude-standard", "-z"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return sum(path.stat().st_size for path in paths if path.is_file())


def float16_folder(name: str, into: Path) -> Path:
    from whisper_eas.hub import resolve

    source, folder = resolve(name), into / name
    folder.mkdir(parents=True)
    tensors = load_file(source / "model.safetensors")
    half = {key: value.half().contiguous() for key, value in tensors.items()}
    if any(not torch.equal(half[k].float(), v.float()) for k, v in tensors.items()):
        raise SystemExit(f"{name}: its weights are not float16 values; carry them as they are")
    save_file(half, folder / "model.safetensors", metadata={"format": "pt"})
    for extra in source.glob("*.json"):
        shutil.copy(extra, folder)
    return folder


def wheels(into: Path) -> Path:
    import av

    folder = into / "wheels"
    platform = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64"]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", folder,
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platform, f"av=={av.__version__}", "webvtt-py"], check=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", "-d", into, "srt"], check=True)  # fmt: skip
    with tarfile.open(next(into.glob("srt-*.tar.gz"))) as sdist:  # srt is one module
        member = next(m for m in sdist.getmembers() if m.name.endswith("/srt.py"))
        (folder / "srt.py").write_bytes(sdist.extractfile(member).read())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en")
    parser.add_argument("--data", help="a folder to carry as /tmp/gpu/data (manifest, audio)")
    parser.add_argument("--output", default=".lease")
    args = parser.parse_args()
    if args.data and not Path(args.data).is_dir():
        raise SystemExit(f"--data {args.data}: not a folder")
    output = ROOT / args.output
    if output.exists():
        shutil.rmtree(output)
    room = LIMIT - travelling_bytes() - 2**20  # a MiB spare for the scripts
    if room < 8 * 2**20:
        raise SystemExit("the checkout alone nearly fills a call: leave benchmarks/results out "
                         "(docs/gpu.md)")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # (file, its name under /tmp/gpu): the wheels at the top, a model in a folder of its
        # name, the data under data/
        staged = [(float16_folder(m, scratch), Path(m)) for m in args.models.split(",")]
        staged.append((wheels(scratch), Path()))  # after the models: a bad name fails first
        if args.data:
            staged.append((Path(args.data).resolve(), Path("data")))
        files = [
            (path, under / path.relative_to(folder))
            for folder, under in staged
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        ]
        # Cut into pieces that fill one call after another; setup.sh joins them in order.
        calls, used, joins = [[]], 0, []
        for path, name in files:
            data, pieces = path.read_bytes(), []
            digest = hashlib.sha256(data).hexdigest()
            while data:
                if used == room:
                    calls.append([])
                    used = 0
                piece, data = data[: room - used], data[room - used :]
                pieces.append(f"c{len(calls)}/{name}.part{len(pieces)}")
                calls[-1].append((pieces[-1], piece))
                used += len(piece)
            joins.append((str(name), pieces, digest))
        for pieces in calls:
            for name, piece in pieces:
                (output / name).parent.mkdir(parents=True, exist_ok=True)
                (output / name).write_bytes(piece)
    last = output / f"c{len(calls)}"
    last.mkdir(parents=True, exist_ok=True)
    (last / "joins.json").write_text(json.dumps(joins, indent=1))
    (last / "setup.sh").write_text(SETUP)
    results = ROOT / "benchmarks" / "results"
    if subprocess.run(["git", "ls-files", "--error-unmatch", results], cwd=ROOT,
                      capture_output=True).returncode == 0:  # fmt: skip
        print("benchmarks/results travels with every call: for fewer calls, `git rm -r -q "
              "--cached benchmarks/results`, list it in .git/info/exclude, run this again, "
              "and `git reset -q -- benchmarks/results` after the lease")  # fmt: skip
    print(f"{len(calls)} calls, within 30 s of each other (or the machine goes back):")
    for k in range(1, len(calls) + 1):
        then = " && bash /tmp/gpu/setup.sh && export PYTHONPATH=/tmp/gpu/site:$PWD && YOUR COMMAND"
        print(
            f'  run(command="mkdir -p /tmp/gpu && cp -r {args.output}/c{k}/. /tmp/gpu/'
            f'{then if k == len(calls) else ""}", carry=["{args.output}/c{k}"])'
        )


SETUP = """#!/bin/bash
# Join the pieces (each call's folder was copied into /tmp/gpu), check them, install the wheels.
set -e
cd /tmp/gpu
python3 - <<'EOF'
import hashlib, json, pathlib
for name, pieces, digest in json.load(open("joins.json")):
    whole = b"".join(pathlib.Path(p.split("/", 1)[1]).read_bytes() for p in pieces)
    assert hashlib.sha256(whole).hexdigest() == digest, name
    pathlib.Path(name).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(name).write_bytes(whole)
print("joined and checked:", len(json.load(open("joins.json"))), "files")
EOF
python3 -m pip install -q --no-index --no-deps --no-compile --target site av-*.whl webvtt*.whl
cp srt.py site/
"""


if __name__ == "__main__":
    main()
