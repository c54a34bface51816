"""Which op of a decoding step first gives a row other bits alone than in a batch of eight.

The eight inputs of `cuda_invariance.py` (those of tests/test_cuda.py), each window encoded
alone; the prompt, then three fed tokens, alone and in one batch; hooks on every product and
LayerNorm of the decoder compare their inputs and outputs row by row. Prints, for each row,
(step, first module, input or output), or None where the logits are equal to the bit, in
float16 and float32. Run in a GPU lease (docs/gpu.md); on the CPU every row is None:

    python benchmarks/cuda_where_step.py MODEL_FOLDER out.json
"""

import argparse
import json

import torch
from cuda_invariance import eight_inputs

from whisper_eas import load_model, log_mel_spectrogram, pad_or_trim
from whisper_eas.model import LayerNorm, Linear

FED = " And so, my fellow"  # the text whose first three tokens are fed after the prompt


def recorded_steps(model, features: torch.Tensor, records: list) -> list[tuple[list, torch.Tensor]]:
    """The prompt, then each fed token: per step, what the hooks recorded and the logits."""
    decoder, tokenizer, device = model.network.decoder, model.tokenizer, features.device
    prompt = tokenizer.sot_sequence("en" if tokenizer.multilingual else None)
    cache, rows = decoder.new_cache(features), len(features)
    decoder(torch.tensor([prompt] * rows, device=device), cache, last_only=True)
    steps = []
    for token in tokenizer.encode(FED)[:3]:
        records.clear()
        logits = decoder(torch.tensor([[token]] * rows, device=device), cache, last_only=True)
        steps.append((list(records), logits))
    return steps


def first_difference(alone: list, together: list, row: int) -> tuple | None:
    """(step, module, "input" or "output") where row `row` of the batch first differs from the
    row alone, else None."""
    for step, ((seen_alone, logits_alone), (seen_together, logits_together)) in enumerate(
        zip(alone, together)
    ):
        for (name, in_a, out_a), (_, in_t, out_t) in zip(seen_alone, seen_together):
            if not torch.equal(in_a[0], in_t[row]):
                return step, name, "input"
            if not torch.equal(out_a[0], out_t[row]):
                return step, name, "output"
        if not torch.equal(logits_alone[0], logits_together[row]):
            return step, "logits", "output"
    return None


def where_rows_differ(model_name: str, dtype: str, device: str) -> list:
    model = load_model(model_name, device=device, dtype=dtype)
    records: list = []
    for name, module in model.network.decoder.named_modules():
        if isinstance(module, (Linear, LayerNorm)):
            module.register_forward_hook(
                lambda m, i, o, name=name: records.append((name, i[0].clone(), o.clone()))
            )
    waves = [torch.from_numpy(w) for w in eight_inputs()]
    mels = torch.stack([log_mel_spectrogram(pad_or_trim(w)) for w in waves])
    with torch.inference_mode():
        features = torch.cat([
            model.network.encoder(mel[None].to(device, model.dtype)).features for mel in mels
        ])  # fmt: skip
        together = recorded_steps(model, features, records)
        return [
            first_difference(recorded_steps(model, features[row : row + 1], records), together, row)
            for row in range(len(features))
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="name or folder")
    parser.add_argument("output", help="JSON file")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    found = {}
    for dtype in ("float16", "float32"):
        found[dtype] = where_rows_differ(args.model, dtype, device)
        print(dtype, found[dtype], flush=True)
    with open(args.output, "w") as out:
        json.dump(found, out, indent=1)


if __name__ == "__main__":
    main()
