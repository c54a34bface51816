"""The encoder per window: a batch of windows in one call against one window at a time (what
`windows.encode` does on the CPU), float32 and int8.

    python benchmarks/encoder_batching.py --models tiny.en,base --batch 6 \
        --output benchmarks/results/encoder_batching_cpu

Log-mel of real speech (the test fixtures, each padded to 30 s as a file's only window),
repeated to fill the batch; the two ways take turns, the median of 3 after a warm-up.
"""

import argparse
from pathlib import Path

import torch

from whisper_eas import load_audio, load_model, log_mel_spectrogram, pad_or_trim
from whisper_eas.research.bench import median_seconds, run_header, title, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/encoder_batching_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = sorted(Path("tests/data").glob("*.flac"))
    rows = []
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            model = load_model(name, dtype=dtype)
            waves = [pad_or_trim(torch.from_numpy(load_audio(clip))) for clip in clips]
            mels = [log_mel_spectrogram(wave, model.dims.n_mels) for wave in waves]
            mel = torch.stack([mels[i % len(mels)] for i in range(args.batch)])
            encoder = model.network.encoder
            with torch.inference_mode():
                batched = median_seconds(lambda: encoder(mel))
                alone = median_seconds(lambda: [encoder(mel[i : i + 1]) for i in range(args.batch)])
            row = {"model": name, "dtype": dtype, "batched_ms": 1000 * batched / args.batch,
                   "alone_ms": 1000 * alone / args.batch}  # fmt: skip
            rows.append(row)
            print(row, flush=True)
    lines = ["| model | dtype | batch of %d, ms a window | one at a time, ms a window | "
             "speed-up |" % args.batch, "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['batched_ms']:.0f} | {r['alone_ms']:.0f} | "
            f"{r['batched_ms'] / r['alone_ms']:.2f}× |"
        )
    header = run_header(args.threads, batch=args.batch)
    text = (
        title("The encoder, batched or one window at a time", header)
        + "\n\nSpeech-filled log-mel of the test fixtures; median of 3.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_results(args.output, {**header, "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
