"""Which op of a decoding step first gives a row other bits alone than in a batch of eight.

The eight inputs of tests/test_cuda.py, each window encoded alone; the prompt, then three fed
tokens, alone and in one batch; hooks on every product and LayerNorm of the decoder compare
their inputs and outputs row by row. Prints, for each row, (step, first module, input or
output), or None where the logits are equal to the bit. Run in a GPU lease (docs/gpu.md):

    python benchmarks/cuda_where_step.py MODEL_FOLDER out.json
"""

import json
import sys

import torch

sys.path.insert(0, "tests")
from test_transcribe import batch_of_eight  # noqa: E402

from whisper_eas import load_model, log_mel_spectrogram, pad_or_trim  # noqa: E402
from whisper_eas.model import LayerNorm, Linear  # noqa: E402

MODEL, DEVICE = sys.argv[1], "cuda" if torch.cuda.is_available() else "cpu"
out = {}
for dtype in ("float16", "float32"):
    model = load_model(MODEL, device=DEVICE, dtype=dtype)
    decoder, tokenizer = model.network.decoder, model.tokenizer
    mels = torch.stack(
        [log_mel_spectrogram(pad_or_trim(torch.from_numpy(w))) for w in batch_of_eight()]
    ).to(DEVICE, model.dtype)
    prompt = tokenizer.sot_sequence("en" if tokenizer.multilingual else None)
    fed = tokenizer.encode(" And so, my fellow")[:3]
    records, names = [], {}
    for name, module in decoder.named_modules():
        if isinstance(module, (Linear, LayerNorm)):
            names[module] = name
            module.register_forward_hook(
                lambda m, i, o: records.append(
                    (names[m], i[0].detach().clone(), o.detach().clone())
                )
            )

    def run(features):
        cache, rows = decoder.new_cache(features), len(features)
        decoder(torch.tensor([prompt] * rows, device=DEVICE), cache, last_only=True)
        steps = []
        for t in fed:
            records.clear()
            logits = decoder(torch.tensor([[t]] * rows, device=DEVICE), cache, last_only=True)
            steps.append((list(records), logits))
        return steps

    with torch.inference_mode():
        features = torch.cat([model.network.encoder(m[None]).features for m in mels])
        together = run(features)
        report = []
        for row in range(8):
            alone = run(features[row : row + 1])
            first = None
            for step, ((rec_a, log_a), (rec_t, log_t)) in enumerate(zip(alone, together)):
                for (name, i_a, o_a), (_, i_t, o_t) in zip(rec_a, rec_t):
                    if not torch.equal(i_a[0], i_t[row]):
                        first = (step, name, "input")
                        break
                    if not torch.equal(o_a[0], o_t[row]):
                        first = (step, name, "output")
                        break
                if first:
                    break
                if not torch.equal(log_a[0], log_t[row]):
                    first = (step, "logits", "output")
                    break
            report.append(first)
        out[dtype] = report
        print(dtype, report, flush=True)
json.dump(out, open(sys.argv[2], "w"), indent=1)
