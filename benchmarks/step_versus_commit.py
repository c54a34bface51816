"""A decoding step of this checkout against the same step at an earlier commit, in one process:
the earlier core is unpacked from git as a package of another name (`whisper_eas_before`; the
core imports itself relatively), given the same weights, and the two take turns. Reports ms
per step (median of the turns), the speed-up, and whether every logit agrees to the bit (the
prompt's and each step's), so that a change meant to save time alone shows that it did not
change a number.

    python benchmarks/step_versus_commit.py --before fa1afca --models tiny.en,base \\
        --dtypes float32,int8 --batches 1,8 --output benchmarks/results/step_versus_fa1afca_cpu
"""

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor

from whisper_eas import load_audio, load_model
from whisper_eas.audio import N_SAMPLES, log_mel_spectrogram, pad_or_trim
from whisper_eas.quantize import is_int8
from whisper_eas.research.bench import (
    run_header,
    step_table,
    title,
    unpack_package_at,
    write_results,
)

HERE = Path(__file__).resolve().parents[1]


def import_core_at(commit: str, folder: Path):
    """The package `whisper_eas` of `commit`, imported as `whisper_eas_before`."""
    unpack_package_at(commit, folder).rename(folder / "whisper_eas_before")
    sys.path.insert(0, str(folder))
    return importlib.import_module("whisper_eas_before")


def twin(before, model):
    """The earlier core's network with `model`'s weights (quantized by its own code for int8)."""
    network = before.model.Whisper(model.dims)
    quantized = is_int8(model.network)
    network.load_state_dict((load_model(model.name) if quantized else model).network.state_dict())
    if quantized:
        importlib.import_module("whisper_eas_before.quantize").quantize_int8(network)
    return network.eval()


def decode_steps(network, encoded, prompt: Tensor, steps: int) -> tuple[float, Tensor]:
    """ms per step over `steps` steps after the prompt (and 5 warm-up steps), and the logits."""
    decoder = network.decoder
    cache = decoder.new_cache(encoded)
    outputs = [decoder(prompt, cache)[:, -1]]
    for index in range(5):
        outputs.append(decoder(torch.full((len(prompt), 1), 440 + index), cache)[:, -1])
    began = time.perf_counter()
    for index in range(steps):
        outputs.append(decoder(torch.full((len(prompt), 1), 262 + index), cache)[:, -1])
    return 1000 * (time.perf_counter() - began) / steps, torch.cat(outputs)


def compare(model, network_before, batch: int, audio, rounds: int, steps: int) -> dict:
    mel = log_mel_spectrogram(pad_or_trim(audio[:N_SAMPLES]), model.dims.n_mels)
    language = "en" if model.tokenizer.multilingual else None
    prompt = torch.tensor([model.tokenizer.sot_sequence(language, timestamps=True)] * batch)
    networks = {"before": network_before, "now": model.network}
    times = {name: [] for name in networks}
    logits = {}
    with torch.inference_mode():
        mel = mel[None].expand(batch, -1, -1)
        encoded = {name: network.encoder(mel) for name, network in networks.items()}
        for turn in range(rounds):
            order = list(networks) if turn % 2 == 0 else list(networks)[::-1]
            for name in order:
                ms, logits[name] = decode_steps(networks[name], encoded[name], prompt, steps)
                times[name].append(ms)
    return {"ms": {name: statistics.median(t) for name, t in times.items()},
            "same_logits": torch.equal(logits["before"], logits["now"])}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--audio", default="data/long/audio/1272-141231.wav")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio = load_audio(args.audio)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        before = import_core_at(args.before, Path(folder))
        for name in args.models.split(","):
            for dtype in args.dtypes.split(","):
                model = load_model(name, dtype=dtype)
                network_before = twin(before, model)
                for batch in map(int, args.batches.split(",")):
                    got = compare(model, network_before, batch, audio, args.rounds, args.steps)
                    rows.append({"model": name, "dtype": dtype, "batch": batch, **got})
                    print(rows[-1], flush=True)
    header = run_header(args.threads, before=args.before, audio=args.audio, rounds=args.rounds,
                        steps=args.steps)  # fmt: skip
    lines = [
        title(f"Decoding step: this commit against {args.before}", header), "",
        f"One window of `{args.audio}`; {args.steps} steps after the prompt and 5 warm-up "
        f"steps, the two cores taking turns {args.rounds} times in one process; median ms "
        "per step. Same logits: every logit of the prompt and of every step, to the bit.", "",
        *step_table(rows, "before", "now"), "",
    ]  # fmt: skip
    write_results(args.output, {**header, "rows": rows}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
