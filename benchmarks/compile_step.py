"""torch.compile of the decoding step, from the outside, on CPU: is it worth it?

Three ways to run one decoder step at batch 1 on a real window's encoder output (20 steps
after the prompt, median of 5 repeats, taking turns): our eager step on oneDNN's packed
weights (the default), the eager step on plain `F.linear`, and `torch.compile` of that plain
decoder (Inductor cannot lower the packed oneDNN op: `mkldnn._linear_pointwise` fails in its
lowering, so the packed path cannot be compiled as it stands).

    python benchmarks/compile_step.py --models tiny.en,base \
        --output benchmarks/results/compile_step_cpu
"""

import argparse
import statistics
import time

import torch

from whisper_eas import load_audio, load_model, log_mel_spectrogram, onednn, pad_or_trim
from whisper_eas.research.bench import cpu_flags, run_header, title, write_results

CLIP = "tests/data/1272-128104-0000.flac"


def step_ms(decoder, run, audio, tokens, step, n: int = 20) -> float:
    cache = decoder.new_cache(audio)
    run(tokens, cache, last_only=True)
    began = time.perf_counter()
    for _ in range(n):
        run(step, cache, last_only=True)
    return (time.perf_counter() - began) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/compile_step_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(load_audio(CLIP))))
    result = run_header(args.threads, cpu_flags=cpu_flags(), rows=[])
    for name in args.models.split(","):
        # Each model makes its oneDNN packs on first use, under the switch as it is then: the
        # plain one runs with it off, so it never makes one and stays on F.linear.
        packed, plain = load_model(name), load_model(name)
        compiled = torch.compile(plain.network.decoder)
        language = "en" if packed.tokenizer.multilingual else None
        tokens = torch.tensor([packed.tokenizer.sot_sequence(language)])
        step = torch.tensor([[packed.tokenizer.eot - 1000]])  # any text token
        with torch.inference_mode():
            audio = packed.network.encoder(mel[None])
            onednn.use_onednn = False
            began = time.perf_counter()
            step_ms(plain.network.decoder, compiled, audio, tokens, step, n=3)
            warm_up = time.perf_counter() - began
            runs = {  # label: (decoder, what runs it, on oneDNN)
                "eager, packed (default)": (packed.network.decoder, packed.network.decoder, True),
                "eager, F.linear": (plain.network.decoder, plain.network.decoder, False),
                "torch.compile, F.linear": (plain.network.decoder, compiled, False),
            }
            times = {label: [] for label in runs}
            for _ in range(5):
                for label, (decoder, run, on_onednn) in runs.items():
                    onednn.use_onednn = on_onednn
                    times[label].append(step_ms(decoder, run, audio, tokens, step))
            onednn.use_onednn = True
        row = {"model": name, "compile_seconds": warm_up}
        row |= {label: statistics.median(t) for label, t in times.items()}
        result["rows"].append(row)
        print(row, flush=True)
    lines = [
        title("torch.compile of a decoding step, CPU", result),
        "",
        "Batch 1, ms per step (median of 5 × 20 steps); compile: first-call seconds.",
        "",
        "| model | eager, packed (default) | eager, F.linear | torch.compile, F.linear "
        "| compile s |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['model']} | {row['eager, packed (default)']:.2f} | "
            f"{row['eager, F.linear']:.2f} | {row['torch.compile, F.linear']:.2f} | "
            f"{row['compile_seconds']:.0f} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
