"""Write `whisper_eas/assets/silero_vad_v6.safetensors`: Silero VAD v6's 16 kHz weights (MIT,
Copyright (c) 2020-present Silero Team) from the TorchScript file in silero-vad 6.1.0's wheel,
under the names of our module (`whisper_eas/vad.py`). These are the weights faster-whisper
ships as `silero_vad_v6.onnx`; silero-vad 6.2 ships newer ones, which stay deaf for seconds to
quiet speech after loud non-speech (README, "Silence, noise and music").

    pip download silero-vad==6.1.0 --no-deps -d /tmp/wheels
    python scripts/silero_vad_weights.py /tmp/wheels/silero_vad-6.1.0-py3-none-any.whl
"""

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

WHEEL_SHA256 = "f71004f5a6d0d784b285fba4436d9c8d462f990ee64500f723473c83e6dd16a1"
OUTPUT = Path(__file__).parents[1] / "whisper_eas" / "assets" / "silero_vad_v6.safetensors"

# TorchScript name (its 16 kHz model) -> ours; every key of ours is accounted for.
NAMES = {
    "_model.stft.forward_basis_buffer": "stft_basis",
    **{
        f"_model.encoder.{i}.reparam_conv.{part}": f"encoder.{i}.{part}"
        for i in range(4)
        for part in ("weight", "bias")
    },
    **{
        f"_model.decoder.rnn.{p}": f"rnn.{p}_l0"
        for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    },
    "_model.decoder.decoder.2.weight": "head.weight",
    "_model.decoder.decoder.2.bias": "head.bias",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="silero_vad-6.1.0-py3-none-any.whl")
    args = parser.parse_args()
    if not args.wheel.is_file():
        parser.error(f"no such file: {args.wheel} (pip download silero-vad==6.1.0 --no-deps)")
    digest = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{args.wheel} is not silero-vad 6.1.0's wheel (sha256 {digest})")
    with zipfile.ZipFile(args.wheel) as wheel:
        scripted = torch.jit.load(io.BytesIO(wheel.read("silero_vad/data/silero_vad.jit")))
    state = scripted.state_dict()
    weights = {ours: state[theirs].contiguous().clone() for theirs, ours in NAMES.items()}
    OUTPUT.parent.mkdir(exist_ok=True)
    save_file(weights, OUTPUT, metadata={
        "source": "silero-vad 6.1.0 (PyPI), silero_vad/data/silero_vad.jit, 16 kHz model",
        "license": "MIT, Copyright (c) 2020-present Silero Team",
    })  # fmt: skip
    print(f"{sum(w.numel() for w in weights.values()):,} values -> {OUTPUT}")


if __name__ == "__main__":
    main()
