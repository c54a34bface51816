"""A decoding step's milliseconds against the memory-bandwidth floor, per weight dtype; and
the largest logit difference of each dtype to float32 on the test fixtures.

At batch 1 a decoder step multiplies one row by every decoder weight, the 51,865-row output
projection and the cross-attention K/V: it is bound by reading those bytes. The floor is
bytes read / bandwidth, with the bandwidth measured here by copying a 1 GiB tensor (the copy
reads and writes it: 2 GiB of traffic). Steps are timed on a real window's encoder output
(dev-clean clip), 20 steps after a 3-token prompt, the median of 5 repeats; dtypes take turns.

    python benchmarks/decoder_step.py --models base,tiny.en \
        --output benchmarks/results/decoder_step_cpu
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, log_mel_spectrogram, pad_or_trim
from whisper_eas.model import one_row_run
from whisper_eas.research.bench import run_header, title, write_results

CLIP = "tests/data/1272-128104-0000.flac"


def fastest_seconds(work, repeats: int = 5) -> float:
    """The shortest of `repeats` timed calls of `work`."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def bandwidth_gb_s() -> float:
    source = torch.ones(2**28)  # 1 GiB of float32
    target = torch.empty_like(source)
    return 2 * source.numel() * 4 / fastest_seconds(lambda: target.copy_(source)) / 1e9


def read_bandwidth_gb_s() -> float:
    """Reading alone (a sum over 1 GiB), as a step reads its weights. On the AVX2 EPYC VM
    (2026-12-03) 20-27 GB/s, where a copy moved 19-37 GB/s (read and write counted)."""
    source = torch.ones(2**28)
    return source.numel() * 4 / fastest_seconds(source.sum) / 1e9


def products_ms(model, one_row: bool = True) -> float:
    """The products of a one-row step alone, in a step's order (each block's query/key/value,
    self-attention output, cross-attention query and output, MLP; the output projection),
    without attention, norms or logit handling: what the kernels cost of a step."""
    decoder = model.network.decoder
    x = torch.randn(1, 1, model.dims.n_text_state, dtype=model.dtype)
    wide = torch.randn(1, 1, 4 * model.dims.n_text_state, dtype=model.dtype)

    def products():
        for block in decoder.blocks:
            block.attn.project_qkv(x)
            block.attn.out(x)
            block.cross_attn.query(x)
            block.cross_attn.out(x)
            block.mlp[0](x)
            block.mlp[2](wide)
        decoder.token_embedding.project(x)

    with torch.inference_mode(), one_row_run(one_row):
        products()
        times = []
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(20):
                products()
            times.append((time.perf_counter() - began) / 20 * 1000)
    return statistics.median(times)


SCREEN_BYTES = {"bf16": 2, "int8": 1, "int8x2": 1, "int8x2-fbgemm": 1}  # per element


def bytes_per_step(model, n_audio: int, screen: str | None = None) -> int:
    """Weight bytes of the decoder (embedding = output projection) + cross K/V of the layers;
    `screen`: the kind the projection's text columns are read in (`screening`), if any."""
    decoder = model.network.decoder
    weights = sum(t.numel() * t.element_size() for t in decoder.state_dict().values())
    if screen:
        text = decoder.token_embedding.weight[: model.tokenizer.timestamp_begin]
        weights -= text.numel() * (text.element_size() - SCREEN_BYTES[screen])
    dims = model.dims
    # K/V in the decoder's cross dtype (int8's: bf16 where the CPU has bf16 instructions)
    element = torch.finfo(decoder.cross_dtype or model.dtype).bits // 8
    cross = 2 * dims.n_text_layer * n_audio * dims.n_text_state * element
    return weights + cross


def screen_of(model, one_row: bool = True):
    """The screened projection a greedy step of `model` uses here (`one_row`: the kind for a
    run of one row, `--batch-size 1`), or None."""
    from whisper_eas.decoding import DecodingOptions, screened_projection

    return screened_projection(model, DecodingOptions(one_row=one_row))


def step_ms(model, eas, screened: bool = False, one_row: bool = True) -> tuple[float, int]:
    """A step's milliseconds: the decoder and its output projection, the float32 product or
    (`screened`) the screen with its float32 candidates, as `decoding.generate` runs it; with
    `one_row` the kernels of a run of one row (`--batch-size 1`: `model.one_row_run`), else
    those of a lone row in a batched run (oneDNN, with the bits it gets in a batch)."""
    screen = screen_of(model, one_row) if screened else None
    mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(load_audio(CLIP))), model.dims.n_mels)
    n_speech = [-(-len(load_audio(CLIP)) // 320)]
    tokens = torch.tensor(
        [model.tokenizer.sot_sequence("en" if model.tokenizer.multilingual else None)]
    )
    with torch.inference_mode(), one_row_run(one_row):
        audio = model.network.encoder(mel[None].to(model.dtype), eas=eas, n_speech=n_speech)
        times = []
        for _ in range(5):
            cache = model.network.decoder.new_cache(audio)
            model.network.decoder(tokens, cache, last_only=True)
            step = torch.tensor([[model.tokenizer.eot - 1000]])  # any text token
            began = time.perf_counter()
            for _ in range(20):
                out = model.network.decoder(step, cache, last_only=True, project=screen is None)
                if screen is not None:
                    logits, margin = screen(out[:, -1])
                    screen.refine(logits, out[:, -1], margin)
            times.append((time.perf_counter() - began) / 20 * 1000)
    return statistics.median(times), audio.features.shape[1]


def logit_difference(reference, model, clips) -> tuple[float, float]:
    """Teacher-forced on float32's own transcript of each clip: the largest |logit difference|
    over all clips and steps, and the share of steps whose top token agrees."""
    from whisper_eas import transcribe

    worst, agree, steps = 0.0, 0, 0
    for clip in clips:
        wave = load_audio(clip)
        mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(wave)), reference.dims.n_mels)
        language = "en" if reference.tokenizer.multilingual else None
        text_tokens = transcribe(reference, clip, timestamps=False, language=language).tokens
        prompt = reference.tokenizer.sot_sequence(language)
        tokens = torch.tensor([prompt + text_tokens])
        logits = []
        for m in (reference, model):
            with torch.inference_mode():
                cache = m.network.decoder.new_cache(m.network.encoder(mel[None].to(m.dtype)))
                logits.append(m.network.decoder(tokens, cache)[0, len(prompt) - 1 :])
        worst = max(worst, (logits[0] - logits[1]).abs().max().item())
        agree += (logits[0].argmax(-1) == logits[1].argmax(-1)).sum().item()
        steps += logits[0].shape[0]
    return worst, agree / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--kernels", choices=["one-row", "batch"], default="one-row",
        help="a step of `--batch-size 1` (MKL's products, the one-row screen), or a lone row "
        "of a batched run (oneDNN, its bits in a batch; the only kind before 2026-12-05)",
    )  # fmt: skip
    parser.add_argument("--output", default="benchmarks/results/decoder_step_cpu")
    args = parser.parse_args()
    one_row = args.kernels == "one-row"
    torch.set_num_threads(args.threads)
    bandwidth, read_bandwidth = bandwidth_gb_s(), read_bandwidth_gb_s()
    result = run_header(
        args.threads, bandwidth_gb_s=bandwidth, read_bandwidth_gb_s=read_bandwidth,
        kernels=args.kernels, rows=[],
    )  # fmt: skip
    clips = sorted(str(p) for p in Path("tests/data").glob("*.flac"))
    for name in args.models.split(","):
        models = {dtype: load_model(name, dtype=dtype) for dtype in args.dtypes.split(",")}
        for dtype, model in list(models.items())[1:]:
            worst, agree = logit_difference(models["float32"], model, clips)
            result.setdefault("logits", []).append(
                {"model": name, "dtype": dtype, "max_abs_difference": worst, "top1_agree": agree}
            )
            print(result["logits"][-1], flush=True)
        for eas in (None, EASConfig.recommended(name)):
            for dtype, model in models.items():
                for screened in (False, True) if screen_of(model, one_row) else (False,):
                    ms, n_audio = step_ms(model, eas, screened, one_row)
                    products = products_ms(model, one_row) if eas is None and not screened else None
                    kind = screen_of(model, one_row).kind if screened else None
                    megabytes = bytes_per_step(model, n_audio, kind) / 1e6
                    floor = megabytes / bandwidth  # ms: MB / (GB/s)
                    row = {"model": name, "dtype": dtype, "eas": eas is not None,
                           "screened": screened, "screen": kind, "audio_tokens": n_audio,
                           "step_ms": ms, "floor_ms": floor, "megabytes": megabytes,
                           "products_ms": products,
                           "read_floor_ms": megabytes / read_bandwidth}  # fmt: skip
                    result["rows"].append(row)
                    print(row, flush=True)
    lines = [title("A decoding step against the memory-bandwidth floor", result), "",
             f"Measured copy bandwidth: {bandwidth:.1f} GB/s. Floor = bytes read per step / "
             "bandwidth (decoder weights incl. the tied output projection, cross-attention K/V).",
             f"Read bandwidth (a sum over 1 GiB): {read_bandwidth:.1f} GB/s, the read floor's. "
             f"Kernels: {args.kernels} (one-row: a step of `--batch-size 1`, a lone row's "
             "products on MKL; batch: a lone row of a batched run, on oneDNN). "
             "Products: the step's products alone, one row (EAS off only). Projection: the "
             "float32 product, or the screen this CPU reads with float32 candidates "
             "(`screening`, what a greedy step uses; its floor counts the text columns' "
             "weights in the screen's bytes).",
             "", "| model | dtype | EAS | projection | audio tokens | MB per step | step ms | "
             "floor ms | step / floor | read floor ms | products ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["rows"]:
        projection = f"{r.get('screen') or 'bf16'} screen" if r.get("screened") else "float32"
        lines.append(
            f"| {r['model']} | {r['dtype']} | {'recommended' if r['eas'] else 'off'} | "
            f"{projection} | {r['audio_tokens']} | {r['megabytes']:.0f} | {r['step_ms']:.2f} | "
            f"{r['floor_ms']:.2f} | {r['step_ms'] / r['floor_ms']:.1f} | "
            f"{r['read_floor_ms']:.2f} | "
            f"{'' if r['products_ms'] is None else format(r['products_ms'], '.2f')} |"
        )
    lines += ["", f"Logits against float32, teacher-forced on float32's transcripts of the "
              f"{len(clips)} test fixtures:", "", "| model | dtype | max abs difference | "
              "top-1 agreement |", "|---|---|---|---|"]  # fmt: skip
    for r in result.get("logits", []):
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['max_abs_difference']:.3f} | "
            f"{100 * r['top1_agree']:.1f} % |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
