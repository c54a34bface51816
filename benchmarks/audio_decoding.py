"""Reading a long recording in a compressed format: `load_audio` (FFmpeg's resampler fed
`audio.RESAMPLE_SAMPLES` at a time), the same fed one decoded frame at a time (how
`load_audio` read until 2026-12-06), and faster-whisper's `decode_audio`; seconds per minute of
audio, the three taking turns file by file (the first rotating), medians.

    python benchmarks/audio_decoding.py --limit 6 --output benchmarks/results/audio_decoding_cpu

Recordings: the first `--limit` of data/long (benchmarks/build_long_audio.py), each written
once to a temporary folder as FLAC (16 kHz mono), MP3 (44.1 kHz stereo), AAC in MP4 (48 kHz
stereo) and Opus in Ogg (48 kHz stereo) by PyAV's encoders. Each run also checks that ours and
frame by frame give the same samples.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from whisper_eas.audio import SAMPLE_RATE, load_audio
from whisper_eas.research.bench import run_header, title, write_results

FORMATS = {  # name -> (container, codec, rate, layout, sample format, suffix)
    "flac 16 kHz mono": ("flac", "flac", 16000, "mono", "s16", "flac"),
    "mp3 44.1 kHz stereo": ("mp3", "libmp3lame", 44100, "stereo", "s16p", "mp3"),
    "aac 48 kHz stereo": ("mp4", "aac", 48000, "stereo", "fltp", "m4a"),
    "opus 48 kHz stereo": ("ogg", "libopus", 48000, "stereo", "flt", "opus"),
}


def encode(samples: np.ndarray, path: Path, container: str, codec: str, rate: int, layout: str,
           sample_format: str) -> None:  # fmt: skip
    """16 kHz mono float32 samples written as `codec` at `rate` and `layout`."""
    source = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
    source.sample_rate = SAMPLE_RATE
    with av.open(str(path), "w", format=container) as target:
        stream = target.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        fifo = av.AudioFifo()  # the encoder takes frames of its own size
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            frame.pts = None
            fifo.write(frame)
        size = stream.codec_context.frame_size or 1024
        while (frame := fifo.read(size, partial=True)) is not None:
            target.mux(stream.encode(frame))
        target.mux(stream.encode(None))


def frame_by_frame(path: Path) -> np.ndarray:
    """FFmpeg's resampler fed one decoded frame at a time, as `load_audio` read until
    2026-12-06 (to floats then; to 16-bit samples here, as it reads now)."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pieces = [
            out.to_ndarray().reshape(-1)
            for frame in [*container.decode(audio=0), None]
            for out in resampler.resample(frame)
        ]
    return np.concatenate(pieces) / np.float32(32768)


def main() -> None:
    from faster_whisper.audio import decode_audio

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="benchmarks/results/audio_decoding_cpu")
    args = parser.parse_args()
    folder = Path(args.data)
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").open()][: args.limit]
    systems = {
        "ours": load_audio,
        "ours frame by frame": frame_by_frame,
        "faster-whisper": lambda path: decode_audio(str(path)),
    }
    seconds = {(fmt, name): [] for fmt in FORMATS for name in systems}
    minutes, same = 0.0, True
    with tempfile.TemporaryDirectory() as scratch:
        for index, row in enumerate(rows):
            samples = load_audio(folder / row["audio"])
            minutes += len(samples) / SAMPLE_RATE / 60
            for fmt, (container, codec, rate, layout, sample_format, suffix) in FORMATS.items():
                path = Path(scratch) / f"{index}.{suffix}"
                encode(samples, path, container, codec, rate, layout, sample_format)
                names = list(systems)
                for turn in range(args.rounds):
                    shift = (index + turn) % len(names)
                    for name in names[shift:] + names[:shift]:
                        began = time.perf_counter()
                        out = systems[name](path)
                        seconds[fmt, name].append(time.perf_counter() - began)
                        if name == "ours":
                            ours = out
                same &= bool(np.array_equal(ours, frame_by_frame(path)))
            print(f"{row['audio']}: done", flush=True)
    per_file = minutes / len(rows)
    results = [
        {"format": fmt, "system": name, "median_s": statistics.median(seconds[fmt, name]),
         "s_per_audio_minute": statistics.median(seconds[fmt, name]) / per_file}
        for fmt in FORMATS for name in systems
    ]  # fmt: skip
    lines = [
        "| format | ours s / audio minute | frame by frame | faster-whisper | ours × frame by "
        "frame | ours × faster-whisper |",
        "|---|---|---|---|---|---|",
    ]
    for fmt in FORMATS:
        ours, by_frame, theirs = (statistics.median(seconds[fmt, name]) / per_file
                                  for name in systems)  # fmt: skip
        lines.append(f"| {fmt} | {ours:.4f} | {by_frame:.4f} | {theirs:.4f} | "
                     f"{by_frame / ours:.2f}× | {theirs / ours:.2f}× |")  # fmt: skip
    header = run_header(1, pyav=av.__version__, recordings=[row["audio"] for row in rows],
                        audio_minutes=minutes, same_samples_as_frame_by_frame=same)  # fmt: skip
    text = (
        title("Reading compressed long recordings", header)
        + f"\n\nPyAV {av.__version__}. The first {len(rows)} recordings of {args.data} "
        f"({minutes:.1f} min), each encoded in each format; {args.rounds} turns of each system a "
        f"file, the first rotating; medians of {len(rows) * args.rounds} reads a format. "
        f"Ours gives frame by frame's samples on every file: {same}; both are 16-bit samples, "
        "as faster-whisper's (the same samples to the bit: tests/test_audio.py). One thread: "
        "decoding is FFmpeg's, on the calling thread.\n\n" + "\n".join(lines) + "\n"
    )
    write_results(args.output, {**header, "results": results}, text)
    print(text)


if __name__ == "__main__":
    main()
