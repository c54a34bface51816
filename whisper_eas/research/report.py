"""`whisper-eas report RESULTS.jsonl`: the paper's tables and figures from a search results file.

Writes, into a folder beside the results (or `--output`):
- `report.md`: how and where it was measured; Table 1 (baseline and Eq. 3's top-3 with WER,
  accuracy ratio, RTF, speed-up); every configuration with its time split; Table 2 (WER by
  aggregate and sparsity) when the file holds cross-layer runs.
- `fig2_pareto.png`: WER vs RTF, the Pareto front, the 99 % accuracy line, top-3 circled.
- `fig4_time_breakdown.png`: time per utterance by stage vs sparsity, one panel per layer.
- `fig5_tokens.png`: tokens generated per utterance vs sparsity.
- `speedup.png`: end-to-end speed-up over the baseline vs sparsity.
- `kept_tokens.png`: which audio tokens the top configuration keeps, over one utterance's
  log-mel spectrogram (needs the model and the audio; skipped with a note otherwise).

Plots need matplotlib (`pip install "whisper-eas[plots]"`); the Markdown does not.
"""

from pathlib import Path

from ..sparsify import EASConfig
from .datasets import read_dataset
from .search import pareto_front, read_results, select
from .settings import config_from_record, fields_of

STAGES = ("mel", "stem", "other", "encoder", "decoder")  # older results: mel and stem


def stages(record: dict) -> list[str]:
    return [stage for stage in STAGES if stage in record["seconds"]]


def label(record: dict) -> str:
    """ "Baseline", "(2, 0.5)", or "(6, 0.5) max, cross-layer" when not the defaults."""
    eas = record.get("eas")
    if eas is None:
        return "Baseline"
    extras = [eas["aggregate"]] if eas["aggregate"] != "mean" else []
    extras += [f"{eas['scorer']} scorer"] if eas["scorer"] != "exact" else []
    extras += ["cross-layer"] if eas["cross_layer"] else []
    if eas.get("rule"):
        return f"({eas['layer']}, rule {eas['rule']})" + (" " + ", ".join(extras) if extras else "")
    if eas.get("budget", "window") == "speech":
        extras += ["first padding"] if eas["padding_choice"] == "first" else []
        if eas.get("vad"):
            extras += [f"VAD speech ({eas['vad_margin_ms']} ms margin, "
                       f"{eas['vad_min_pause_ms']} ms pauses kept)"]  # fmt: skip
        speech = (
            f"speech {1 - eas['speech_sparsity']:g}" if eas["speech_sparsity"] else "all speech"
        )
        head = f"({eas['layer']}, {speech} + {eas['padding_tokens']} padding)"
    else:
        head = f"({eas['layer']}, {eas['sparsity']:g})"
    return head + (" " + ", ".join(extras) if extras else "")


def _is_main_grid(record: dict) -> bool:
    """Searched with the paper's defaults (mean of one layer's attention, exact scores)."""
    eas = record["eas"]
    return (
        eas is not None
        and eas["aggregate"] == "mean"
        and not eas["cross_layer"]
        and eas["scorer"] == "exact"
    )


def _baseline(results: list[dict]) -> dict:
    baseline = next((r for r in results if r["eas"] is None), None)
    if baseline is None:
        raise ValueError(
            "the results file has no baseline row "
            "(run `whisper-eas search`, which measures it first)"
        )
    return baseline


def markdown(header: dict, results: list[dict]) -> str:
    baseline = _baseline(results)
    identity = header["identity"]
    per_utt = len(baseline["hypotheses"])
    data = Path(identity["data"]).name
    decoding = identity.get("decoding", "greedy, 30 s windows")
    lines = [
        f"# EAS search: {identity['model']} on {data} ({identity['utterances']} utterances)",
        "",
        f"Measured {header['date']} on {header['device_name']} ({identity['device']}, "
        f"{header['threads']} threads, torch {header['torch']}, {identity['dtype']}, "
        f"{identity['attention']} attention, one utterance at a time, {decoding}), "
        f"commit `{header['commit']}`. WER: `{identity['normalizer']}` on reference and "
        "hypothesis, then jiwer (corpus WER). RTF = inference time / audio duration "
        f"({baseline['audio_seconds']:.0f} s of audio), after one warm-up utterance.",
        "",
        "## Table 1: baseline and the top-3 of Eq. 3",
        "",
        "Eq. 3: the fastest configurations on the Pareto front whose accuracy (1 − WER) is at "
        "least 99 % of the baseline's. Parentheses: accuracy ratio and speed-up relative to "
        "the baseline.",
        "",
        "| configuration | WER % (accuracy ratio) | RTF (speed-up) |",
        "|---|---|---|",
        f"| Baseline | {100 * baseline['wer']:.3f} | {baseline['rtf']:.4f} |",
    ]
    chosen = select(results, baseline)
    for record in chosen:
        ratio = record["accuracy"] / baseline["accuracy"]
        name = (
            "Baseline (itself a choice: the grid's s = 0)"
            if record["eas"] is None
            else label(record)
        )
        lines.append(
            f"| {name} | {100 * record['wer']:.3f} ({ratio:.3f}) | "
            f"{record['rtf']:.4f} ({baseline['rtf'] / record['rtf']:.3f}×) |"
        )
    if not chosen:
        lines.append("| (no configuration meets the 99 % constraint) | | |")

    front = {r["key"] for r in pareto_front(results)}
    lines += [
        "",
        "## All configurations",
        "",
        "Seconds are per utterance. Max-length: utterances whose decoding hit the 224-token limit "
        "(repetition loops). Pareto: on the empirical (RTF, WER) front.",
        "",
        "| configuration | kept | WER % | acc. ratio | RTF | speed-up | "
        + " | ".join(stages(baseline))
        + " | tokens/utt | max-length | Pareto |",
        "|---|---|---|---|---|---|" + "---|" * len(stages(baseline)) + "---|---|---|",
    ]
    for record in sorted(results, key=_sort_key):
        s = [f"{record['seconds'].get(stage, 0.0) / per_utt:.3f}" for stage in stages(baseline)]
        kept, ratio = record["kept_tokens"], record["accuracy"] / baseline["accuracy"]
        pareto = "✓" if record["key"] in front else ""
        lines.append(
            f"| {label(record)} | {kept:.0f} | {100 * record['wer']:.2f} | {ratio:.3f} | "
            f"{record['rtf']:.4f} | {baseline['rtf'] / record['rtf']:.2f}× | {' | '.join(s)} | "
            f"{record['tokens_per_utterance']:.1f} | {record['hit_max_length']} | {pareto} |"
        )
    lines += _table2(results, baseline)
    return "\n".join(lines) + "\n"


def _sort_key(record: dict):
    eas = record["eas"]
    if eas is None:
        return (0, 0, "", 0.0, "")
    return (1 + eas["cross_layer"], eas["layer"], eas["aggregate"], eas["sparsity"], eas["scorer"])


def _table2(results: list[dict], baseline: dict) -> list[str]:
    """WER by sparsity (rows) and aggregate (columns) for cross-layer runs; best per row in bold."""
    study = [r for r in results if r["eas"] is not None and r["eas"]["cross_layer"]]
    if not study:
        return []
    aggregates = [
        a
        for a in ("mean", "max", "min", "geometric_mean", "random")
        if any(r["eas"]["aggregate"] == a for r in study)
    ]
    layers = sorted({r["eas"]["layer"] for r in study})
    lines = [
        "",
        f"## Table 2: WER % by aggregate, dropping at layer {', '.join(map(str, layers))} "
        "with scores of all layers up to it",
        "",
        f"Baseline WER {100 * baseline['wer']:.3f} %. Best per row in bold.",
        "",
        "| sparsity | " + " | ".join(aggregates) + " |",
        "|---|" + "---|" * len(aggregates),
    ]
    for sparsity in sorted({r["eas"]["sparsity"] for r in study}):
        row = {r["eas"]["aggregate"]: r["wer"] for r in study if r["eas"]["sparsity"] == sparsity}
        best = min(row.values())
        cells = [
            ""
            if a not in row
            else (f"**{100 * row[a]:.2f}**" if row[a] == best else f"{100 * row[a]:.2f}")
            for a in aggregates
        ]
        lines.append(f"| {sparsity:g} | " + " | ".join(cells) + " |")
    return lines


# --- figures -----------------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError('plots need matplotlib: pip install "whisper-eas[plots]"') from error
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    _pyplot().close(figure)


def _label_axes(axes, xlabel: str, ylabel: str, title: str) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)


def plot_pareto(results: list[dict], path: Path, title: str) -> None:
    """Fig. 2: every configuration in (RTF, WER); the baseline's bar up to the 99 % line."""
    plt = _pyplot()
    baseline = _baseline(results)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    grid = [r for r in results if _is_main_grid(r)]
    layers = sorted({r["eas"]["layer"] for r in grid})
    colors = plt.get_cmap("viridis")
    for index, layer in enumerate(layers):
        points = [r for r in grid if r["eas"]["layer"] == layer]
        axes.scatter(
            [r["rtf"] for r in points],
            [100 * r["wer"] for r in points],
            s=28,
            color=colors(index / max(1, len(layers) - 1)),
            label=f"layer {layer}",
            zorder=3,
        )
    others = [r for r in results if r["eas"] is not None and not _is_main_grid(r)]
    if others:
        axes.scatter(
            [r["rtf"] for r in others],
            [100 * r["wer"] for r in others],
            s=16,
            color="0.6",
            label="other settings",
            zorder=2,
        )
    front = sorted(pareto_front(results), key=lambda r: r["rtf"])
    axes.plot(
        [r["rtf"] for r in front],
        [100 * r["wer"] for r in front],
        color="0.5",
        linewidth=0.8,
        label="Pareto front",
        zorder=1,
    )
    limit = 100 * (1 - 0.99 * baseline["accuracy"])
    axes.axhline(
        limit, color="black", linestyle=":", linewidth=1, label="99 % of baseline accuracy"
    )
    axes.plot([baseline["rtf"]] * 2, [100 * baseline["wer"], limit], color="black", linewidth=2.5)
    axes.scatter(
        [baseline["rtf"]],
        [100 * baseline["wer"]],
        s=90,
        marker="s",
        color="black",
        label="baseline",
        zorder=4,
    )
    chosen = select(results, baseline)
    axes.scatter(
        [r["rtf"] for r in chosen],
        [100 * r["wer"] for r in chosen],
        s=220,
        facecolors="none",
        edgecolors="red",
        linewidths=1.5,
        label="Eq. 3 top-3",
        zorder=5,
    )
    wers = [100 * r["wer"] for r in results]
    axes.set_ylim(
        0, min(max(wers) * 1.05, max(3 * limit, 100 * baseline["wer"] + 10))
    )  # loops can reach 100 %+
    _label_axes(axes, "real-time factor (lower is faster)", "WER %", title)
    _save(figure, path)


def _by_layer(results: list[dict]) -> dict[int, list[dict]]:
    """Main-grid runs per layer, each list led by the baseline (sparsity 0)."""
    baseline = _baseline(results)
    layers: dict[int, list[dict]] = {}
    for record in sorted(
        (r for r in results if _is_main_grid(r)), key=lambda r: r["eas"]["sparsity"]
    ):
        layers.setdefault(record["eas"]["layer"], [baseline]).append(record)
    return dict(sorted(layers.items()))


def _sparsity(record: dict) -> float:
    return 0.0 if record["eas"] is None else record["eas"]["sparsity"]


def plot_time_breakdown(results: list[dict], path: Path, title: str) -> None:
    """Fig. 4: seconds per utterance in each stage vs sparsity, stacked, one panel per layer."""
    plt = _pyplot()
    layers = _by_layer(results)
    if not layers:
        return
    per_utt = len(_baseline(results)["hypotheses"])
    figure, panels = plt.subplots(
        1, len(layers), figsize=(3.2 * len(layers), 3.6), sharey=True, squeeze=False
    )
    for axes, (layer, records) in zip(panels[0], layers.items()):
        positions = range(len(records))
        bottom = [0.0] * len(records)
        for stage in stages(records[0]):
            heights = [r["seconds"].get(stage, 0.0) / per_utt for r in records]
            axes.bar(positions, heights, bottom=bottom, label=stage)
            bottom = [b + h for b, h in zip(bottom, heights)]
        axes.set_xticks(list(positions), [f"{_sparsity(r):g}" for r in records])
        axes.set_xlabel("sparsity")
        axes.set_title(f"layer {layer}", fontsize=9)
    panels[0][0].set_ylabel("seconds per utterance")
    panels[0][-1].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    _save(figure, path)


def plot_tokens(results: list[dict], path: Path, title: str) -> None:
    """Fig. 5: text tokens generated per utterance vs sparsity, one line per layer."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    for layer, records in _by_layer(results).items():
        axes.plot(
            [_sparsity(r) for r in records],
            [r["tokens_per_utterance"] for r in records],
            marker="o",
            label=f"layer {layer}",
        )
    _label_axes(axes, "sparsity", "tokens per utterance", title)
    _save(figure, path)


def plot_speedup(results: list[dict], path: Path, title: str) -> None:
    """End-to-end speed-up over the baseline vs sparsity, one line per layer."""
    plt = _pyplot()
    baseline = _baseline(results)
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    for layer, records in _by_layer(results).items():
        axes.plot(
            [_sparsity(r) for r in records],
            [baseline["rtf"] / r["rtf"] for r in records],
            marker="o",
            label=f"layer {layer}",
        )
    axes.axhline(1.0, color="0.6", linewidth=0.8)
    _label_axes(axes, "sparsity", "speed-up over the baseline (×)", title)
    _save(figure, path)


def plot_kept_tokens(model, audio_path: Path, eas: EASConfig, path: Path) -> str:
    """The log-mel spectrogram of one utterance with the audio tokens EAS keeps marked below it.

    Each audio token covers 20 ms (two mel frames). Returns a one-line summary."""
    import torch

    from ..audio import SAMPLE_RATE, load_audio, log_mel_spectrogram, pad_or_trim

    plt = _pyplot()
    waveform = load_audio(audio_path)
    mel = log_mel_spectrogram(pad_or_trim(waveform), model.dims.n_mels)
    with torch.inference_mode():
        n_speech = [min(model.dims.n_audio_ctx, -(-len(waveform) // 320))]
        encoded = model.network.encoder(mel[None].to(model.dtype), eas=eas, n_speech=n_speech)
        kept = encoded.kept[0] if encoded.kept is not None else torch.arange(model.dims.n_audio_ctx)
    n_tokens = model.dims.n_audio_ctx
    mask = torch.zeros(n_tokens)
    mask[kept] = 1.0
    speech_tokens = min(n_tokens, round(len(waveform) / SAMPLE_RATE * 50))  # 50 tokens per second
    in_padding = int((kept >= speech_tokens).sum())
    summary = (
        f"{label({'eas': fields_of(eas)})}: kept {len(kept)} of {n_tokens} tokens; "
        f"{len(kept) - in_padding} of the {speech_tokens} in the audio, "
        f"{in_padding} in the zero padding"
    )
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 3.6), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    top.imshow(
        mel.numpy(), origin="lower", aspect="auto", extent=(0, 30, 0, mel.shape[0]), cmap="magma"
    )
    top.axvline(len(waveform) / SAMPLE_RATE, color="white", linestyle="--", linewidth=1)
    top.set_ylabel("mel bin")
    top.set_title(f"{audio_path.name}: {summary}", fontsize=8)
    bottom.imshow(
        mask[None].numpy(), aspect="auto", extent=(0, 30, 0, 1), cmap="Greys", vmin=0, vmax=1
    )
    bottom.set_yticks([])
    bottom.set_ylabel("kept", rotation=0, ha="right", va="center")
    bottom.set_xlabel("seconds (dashed line: end of the audio; the rest is padding)")
    _save(figure, path)
    return summary


def _example_audio(header: dict, results: list[dict], example: str | None) -> Path | None:
    if example:
        return Path(example)
    first_id = next(iter(_baseline(results)["hypotheses"]))
    try:
        return next(
            u.audio
            for u in read_dataset(header["identity"]["data"], skip_missing=True)
            if u.id == first_id
        )
    except (OSError, ValueError, StopIteration):
        return None


def write_report(
    results_path: str | Path,
    output: str | Path | None = None,
    example: str | None = None,
    plots: bool = True,
) -> Path:
    """Write report.md (and the PNGs) for one results file; returns the report's folder."""
    results_path = Path(results_path)
    if not results_path.is_file():
        raise FileNotFoundError(f"results file not found: {results_path}")
    header, results = read_results(results_path)
    if header is None or not results:
        raise ValueError(
            f"{results_path} holds no search results (expected a header line and result lines)"
        )
    folder = Path(output) if output else results_path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(header, results)
    if plots:
        identity = header["identity"]
        data = Path(identity["data"]).name
        title = f"{identity['model']}, {identity['utterances']} utterances of {data}, "
        title += header["device_name"]
        plot_pareto(results, folder / "fig2_pareto.png", title)
        plot_time_breakdown(results, folder / "fig4_time_breakdown.png", title)
        plot_tokens(results, folder / "fig5_tokens.png", title)
        plot_speedup(results, folder / "speedup.png", title)
        text += (
            "\n## Figures\n\n![Fig. 2](fig2_pareto.png)\n\n![Fig. 4](fig4_time_breakdown.png)\n\n"
            "![Fig. 5](fig5_tokens.png)\n"
            "\n![speed-up](speedup.png)\n"
        )
        # The picture needs an EAS setting: Eq. 3's first sparsified choice, else the grid's.
        chosen = [r for r in select(results, _baseline(results)) if r["eas"] is not None]
        chosen = chosen or [r for r in results if _is_main_grid(r)]
        audio = _example_audio(header, results, example)
        if chosen and audio is not None and audio.is_file():
            from ..hub import load_model

            eas = config_from_record(chosen[0]["eas"])
            summary = plot_kept_tokens(
                load_model(header["identity"]["model"]), audio, eas, folder / "kept_tokens.png"
            )
            text += f"\n![kept tokens](kept_tokens.png)\n\n{summary}.\n"
        else:
            text += (
                "\n(No kept-tokens picture: no EAS configuration or no readable example audio; "
                "pass --example AUDIO.)\n"
            )
    (folder / "report.md").write_text(text)
    return folder
