"""Our encoder against CTranslate2's (faster-whisper's) on the same batch of 30 s windows:
seconds per window, same weights, same threads, the two taking turns.

    python benchmarks/encoder_vs_ct2.py --models tiny.en,base --dtypes float32,int8 --batch 6 \
        --output benchmarks/results/encoder_vs_ct2_cpu

Windows: the first `--batch` of data/windows (benchmarks/build_long_audio.py); medians of 4.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from whisper_eas import load_audio, load_model, log_mel_spectrogram, pad_or_trim
from whisper_eas.research.bench import ct2_folder, median_seconds, run_header, title, write_results


def main() -> None:
    import ctranslate2

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/encoder_vs_ct2_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path("data/windows")
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").open()][: args.batch]
    waves = [torch.from_numpy(load_audio(folder / row["audio"])) for row in rows]
    mel = torch.stack([log_mel_spectrogram(pad_or_trim(w)) for w in waves])
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
    results = []
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            ours = load_model(name, dtype=dtype)
            theirs = ctranslate2.models.Whisper(
                str(ct2_folder(name)), device="cpu", compute_type=dtype,
                intra_threads=args.threads, inter_threads=1,
            )  # fmt: skip

            def run_ours():
                with torch.inference_mode():
                    ours.network.encoder(mel)

            def run_theirs():
                theirs.encode(features, to_cpu=True)

            pair = [
                median_seconds(run_ours, 4) / args.batch,
                median_seconds(run_theirs, 4) / args.batch,
            ]
            results.append({"model": name, "dtype": dtype, "ours_s": pair[0], "ct2_s": pair[1]})
            print(results[-1], flush=True)
    header = run_header(args.threads, ctranslate2=ctranslate2.__version__, batch=args.batch)
    lines = ["| model | dtype | ours s / window | CTranslate2 s / window | ours × CTranslate2 |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        lines.append(f"| {r['model']} | {r['dtype']} | {r['ours_s']:.3f} | {r['ct2_s']:.3f} | "
                     f"{r['ct2_s'] / r['ours_s']:.2f}× |")  # fmt: skip
    text = (
        title("The encoder against CTranslate2's", header)
        + f"\n\nctranslate2 {ctranslate2.__version__}. A batch of {args.batch} speech-filled "
        "30 s windows (data/windows), median of 4 after a warm-up; seconds per window.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_results(args.output, {**header, "results": results}, text)
    print(text)


if __name__ == "__main__":
    main()
