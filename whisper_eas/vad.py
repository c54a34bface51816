"""Voice activity detection: Silero VAD v6 (MIT, Silero Team), written as a small module, and
speech regions with the parameters its users know.

The network scores each 32 ms chunk of 16 kHz audio (512 samples, read with the 64 samples
before it): an STFT written as a convolution (256-sample frames, hop 128), four convolutions,
an LSTM cell carried from chunk to chunk, and a sigmoid head. Everything before the LSTM
depends on one chunk alone, so the convolutions run on a block of ~2 minutes of chunks at
once; only the LSTM is sequential (`nn.LSTM`, whose gates are the cell's, its state carried
from block to block). The weights ship with us
(`assets/silero_vad_v6.safetensors`, 1.2 MB, written by `scripts/silero_vad_weights.py`): those
of silero-vad 6.0-6.1, which faster-whisper runs as ONNX. silero-vad 6.2's newer weights stay
deaf for seconds to quiet speech after loud music or hum (13 s of a sentence once), and its
releases before 6.2 need torchaudio; so the package is not a dependency.
"""

import bisect
import itertools
import math
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

SAMPLE_RATE = 16_000
CHUNK = 512  # samples scored together: 32 ms
CONTEXT = 64  # samples before a chunk that it also reads
BLOCK = 4096  # chunks through the network at once (~2 min of audio, ~20 MB)

WEIGHTS = Path(__file__).parent / "assets" / "silero_vad_v6.safetensors"


class SileroVAD(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("stft_basis", torch.zeros(258, 1, 256))  # 129 cosines, 129 sines
        self.encoder = nn.ModuleList(
            [
                nn.Conv1d(129, 128, 3, padding=1),
                nn.Conv1d(128, 64, 3, stride=2, padding=1),
                nn.Conv1d(64, 64, 3, stride=2, padding=1),
                nn.Conv1d(64, 128, 3, padding=1),
            ]
        )
        self.rnn = nn.LSTM(128, 128, batch_first=True)
        self.head = nn.Conv1d(128, 1, 1)

    def chunk_features(self, windows: Tensor) -> Tensor:
        """(n, 576) samples (context + chunk) -> (n, 128): what the LSTM reads of each chunk."""
        x = F.pad(windows[:, None], (0, CONTEXT), mode="reflect")  # (n, 1, 640)
        x = F.conv1d(x, self.stft_basis, stride=128)  # (n, 258, 4): real and imaginary parts
        x = (x[:, :129].square() + x[:, 129:].square()).sqrt()  # (n, 129, 4) magnitudes
        for conv in self.encoder:
            x = F.relu(conv(x))
        return x.squeeze(-1)  # (n, 128, 1) -> (n, 128)

    @torch.inference_mode()
    def forward(self, audio: Tensor) -> Tensor:
        """Mono 16 kHz audio (T,) -> speech probability of each 512-sample chunk (ceil(T/512),);
        the last chunk is padded with zeros. BLOCK chunks at a time, the LSTM's state carried
        from block to block: an hour's padded copy, its LSTM gates and outputs (~550 MB) never
        exist whole."""
        n_chunks = math.ceil(audio.shape[-1] / CHUNK)
        probs = torch.empty(n_chunks, device=audio.device)
        state = None
        for first in range(0, n_chunks, BLOCK):
            last = min(first + BLOCK, n_chunks)
            start, end = first * CHUNK - CONTEXT, last * CHUNK  # zeros outside the audio
            piece = audio[max(start, 0) : end].float()
            piece = F.pad(piece, (max(-start, 0), end - max(start, 0) - piece.shape[-1]))
            features = self.chunk_features(piece.unfold(0, CHUNK + CONTEXT, CHUNK))
            hidden, state = self.rnn(features[None], state)  # (1, n, 128): the sequential part
            probs[first:last] = torch.sigmoid(self.head(F.relu(hidden).transpose(1, 2)))[0, 0]
        return probs


@lru_cache(maxsize=None)
def load_vad(device: str = "cpu") -> SileroVAD:
    """The VAD with its weights, loaded once per process."""
    vad = SileroVAD()
    vad.load_state_dict(load_file(WEIGHTS), strict=True)
    return vad.to(device).eval()


@dataclass(frozen=True)
class VadOptions:
    """Speech regions from chunk probabilities: the settings and defaults of silero-vad's
    `get_speech_timestamps`, whose `min_speech_duration_ms`, `max_speech_duration_s` and
    `min_silence_duration_ms` are named shorter here (faster-whisper's `vad_filter` uses
    min_silence_ms=2000, speech_pad_ms=400: `FILTER_OPTIONS`)."""

    threshold: float = 0.5  # a chunk at or above it is speech
    neg_threshold: float | None = None  # speech ends below it (default: threshold - 0.15)
    min_speech_ms: int = 250  # shorter regions are dropped
    max_speech_s: float = math.inf  # longer regions are split at their longest silence
    min_silence_ms: int = 100  # silence shorter than this does not end a region
    speech_pad_ms: int = 30  # each region is widened by this much on both sides


def speech_regions(probs: list[float], n_samples: int, options: VadOptions = VadOptions()):
    """[(start, end)] in samples of the speech in audio of `n_samples` samples, from the
    chunk probabilities (silero-vad's state machine, written anew)."""
    ms = SAMPLE_RATE / 1000
    low = options.neg_threshold
    low = max(options.threshold - 0.15, 0.01) if low is None else low
    pad = options.speech_pad_ms * ms
    longest = SAMPLE_RATE * options.max_speech_s - CHUNK - 2 * pad
    min_silence, min_speech = options.min_silence_ms * ms, options.min_speech_ms * ms
    min_silence_at_split = 98 * ms
    regions: list[list[int]] = []
    start = None  # the open region's start
    silence_from = 0  # where the current silence inside the open region began (0: none)
    silences: list[tuple[int, int]] = []  # (start, length) of silences inside the open region
    for i, p in enumerate(probs):
        sample = i * CHUNK
        if p >= options.threshold and silence_from:
            if sample - silence_from > min_silence_at_split:
                silences.append((silence_from, sample - silence_from))
            silence_from = 0
        if p >= options.threshold and start is None:
            start = sample
            continue
        if start is not None and sample - start > longest:  # split an over-long region
            if silences:
                cut, length = max(silences, key=lambda s: s[1])
                regions.append([start, cut])
                start = cut + length if cut + length < sample else None
            else:
                regions.append([start, sample])
                start = None
            silence_from, silences = 0, []
            continue
        if p < low and start is not None:
            silence_from = silence_from or sample
            if sample - silence_from < min_silence:
                continue
            if silence_from - start > min_speech:
                regions.append([start, silence_from])
            start, silence_from, silences = None, 0, []
    if start is not None and n_samples - start > min_speech:
        regions.append([start, n_samples])
    return pad_regions(regions, pad, n_samples)


def pad_regions(regions: list[list[int]], pad: float, n_samples: int) -> list[tuple[int, int]]:
    """Widen each region by `pad` samples; neighbours closer than two pads share the gap."""
    for i, region in enumerate(regions):
        if i == 0:
            region[0] = int(max(0, region[0] - pad))
        if i + 1 < len(regions):
            gap = regions[i + 1][0] - region[1]
            share = gap // 2 if gap < 2 * pad else pad
            region[1] = int(region[1] + share)
            regions[i + 1][0] = int(max(0, regions[i + 1][0] - share))
        else:
            region[1] = int(min(n_samples, region[1] + pad))
    return [(start, end) for start, end in regions]


# faster-whisper's `vad_filter` settings: long pauses only, generous padding around speech.
FILTER_OPTIONS = VadOptions(min_silence_ms=2000, speech_pad_ms=400, min_speech_ms=0)
# faster-whisper's (and silero-vad's) names of the settings VadOptions names shorter.
LONG_NAMES = {
    "min_speech_duration_ms": "min_speech_ms",
    "max_speech_duration_s": "max_speech_s",
    "min_silence_duration_ms": "min_silence_ms",
}


def filter_options(parameters: "VadOptions | dict | None" = None) -> VadOptions:
    """`vad_filter`'s settings: faster-whisper's (`FILTER_OPTIONS`) changed by `parameters`, a
    dict in VadOptions' names or faster-whisper's `vad_parameters` names
    (`min_silence_duration_ms`, ...), or a whole VadOptions."""
    if parameters is None:
        return FILTER_OPTIONS
    if isinstance(parameters, VadOptions):
        options = parameters
    else:
        known, changes = {f.name for f in fields(VadOptions)}, {}
        for key, value in dict(parameters).items():
            if LONG_NAMES.get(key, key) not in known:
                names = ", ".join(sorted(known | set(LONG_NAMES)))
                raise ValueError(f"unknown VAD parameter {key!r}; known: {names}")
            changes[LONG_NAMES.get(key, key)] = value
        options = replace(FILTER_OPTIONS, **changes)
    if not 0 < options.threshold < 1:
        raise ValueError(f"the VAD threshold must lie in (0, 1), got {options.threshold}")
    if options.neg_threshold is not None and not 0 < options.neg_threshold <= options.threshold:
        raise ValueError(
            f"the VAD neg_threshold must lie in (0, threshold], got {options.neg_threshold}"
        )
    lengths = (options.min_speech_ms, options.min_silence_ms, options.speech_pad_ms)
    if min(lengths) < 0 or not options.max_speech_s > 0:
        raise ValueError(f"VAD durations must not be negative (max_speech_s > 0), got {options}")
    return options


class SpeechMap:
    """The speech regions of a file, joined: what `vad_filter` transcribes, and the way back
    from a time in the joined audio to the same moment in the file. A join that took out
    `gap` samples or more skipped a gap (a segment must not span it: mapped back, it would
    cover the gap); a shorter one only shortened a pause (every join, by default)."""

    def __init__(self, regions: list[tuple[int, int]], gap: int = 0):
        self.regions = regions
        lengths = [end - start for start, end in regions]
        self.joined_starts = [0, *itertools.accumulate(lengths)][: len(regions)]  # in the joined
        self.gap_joins = [
            self.joined_starts[i]
            for i in range(1, len(regions))
            if regions[i][0] - regions[i - 1][1] >= gap
        ]
        self.joined_length = sum(lengths)

    def join(self, waveform: np.ndarray) -> np.ndarray:
        """The file's speech, region after region (an empty array when there is none)."""
        if not self.regions:
            return waveform[:0]
        return np.concatenate([waveform[start:end] for start, end in self.regions])

    def region_of(self, sample: float, is_end: bool) -> int:
        """The region a joined-audio sample lies in; an end on a boundary stays in the region
        before it (it ends speech there, it does not start the next)."""
        search = bisect.bisect_left if is_end else bisect.bisect_right
        return max(search(self.joined_starts, sample) - 1, 0)

    def side_of(self, end: float) -> int:
        """Between which gaps a span ending at `end` (a joined-audio sample) lies: how many
        gaps come before it (an end on a gap's join stays before it)."""
        return bisect.bisect_left(self.gap_joins, end)

    def side_span(self, index: int) -> tuple[float, float]:
        """Where the audio between gap `index - 1` and gap `index` lies in the joined audio
        (seconds)."""
        bounds = [0, *self.gap_joins, self.joined_length]
        return bounds[index] / SAMPLE_RATE, bounds[index + 1] / SAMPLE_RATE

    def crosses(self, start: float, end: float) -> bool:
        """Whether a span (seconds) of the joined audio runs over a gap's join: its two sides
        lie apart in the file, with the gap taken out between them."""
        first, last = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
        return any(first < j < last for j in self.gap_joins)

    def joined_pauses(self, pauses: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The file's `pauses` (samples) where they lie in the joined audio: each cut to the
        regions, and the two pieces that meet at a join (the pads kept beside a stretch taken
        out) one pause. The VAD is not run again on the joined audio."""
        joined: list[tuple[int, int]] = []
        ends = [b for _, b in pauses]  # in order, as the VAD finds them
        for (start, end), offset in zip(self.regions, self.joined_starts):
            first = bisect.bisect_right(ends, start)  # the pauses before the region end by then
            for a, b in itertools.takewhile(lambda p: p[0] < end, pauses[first:]):
                a, b = max(a, start) - start + offset, min(b, end) - start + offset
                if b <= a:
                    continue
                if joined and joined[-1][1] == a:
                    joined[-1] = (joined[-1][0], b)
                else:
                    joined.append((a, b))
        return joined

    def original(self, start: float, end: float, word: bool = False) -> tuple[float, float]:
        """A span (seconds) of the joined audio -> the same span in the file. A segment may
        span a cut; a word may not: one that the aligner stretched over a cut starts where its
        end's region starts, so no word is placed in the silence that was cut."""
        # (to whole samples: a time rounded to the millisecond lands exactly on a join)
        first = self.region_of(round(start * SAMPLE_RATE), is_end=False)
        last = self.region_of(round(end * SAMPLE_RATE), is_end=True)

        def to_file(seconds: float, i: int) -> float:
            sample = self.regions[i][0] + seconds * SAMPLE_RATE - self.joined_starts[i]
            return round(sample / SAMPLE_RATE, 3)

        if word and first != last:
            return round(self.regions[last][0] / SAMPLE_RATE, 3), to_file(end, last)
        return to_file(start, first), to_file(end, last)


# Silero hears very quiet speech less and less: of the chunks it calls speech in jfk.flac at
# full scale it hears 88 % with the clip's peak at 0.005 (-46 dBFS), 60 % at 0.003 and none at
# 0.002, and the default would skip that speech as silence, though Whisper (its log-mel scaled
# to its own maximum) reads it. Audio whose peak lies below QUIET_PEAK is raised to it for the VAD
# alone. Noise raised so stays noise: in the white and pink noise, hum and music of ten
# recordings with gaps, scaled to peaks of 0.01 to 1, at most 2.7 % of the chunks are taken for
# speech (white noise at 0.1). A click louder than the speech defeats the rule.
QUIET_PEAK = 0.05


# Digital silence (exact zeros, or a constant level, as an editor, a noise gate or a
# recording's padding writes them) drifts the network's state: after a minute of zeros it hears
# the speech that follows less (jfk.flac's "ask not" peaks at 0.49 where alone it reaches 0.75;
# after a minute at a constant 1e-3, 0.46), and the default took those words for part of a
# pause and shortened them away. After a minute of hiss at DITHER (-80 dBFS) it hears them as
# it does alone (0.74). So a run of ZERO_RUN_S or more of constant chunks is read as that hiss,
# seeded (the same file, the same hiss); shorter runs, such as the 0.5-1 s joins of our long
# recordings (where the drift is ~0.01), are read as they are.
DITHER = 1e-4
ZERO_RUN_S = 2.0


def audible(audio: Tensor) -> Tensor:
    """The audio as the VAD reads it: raised to QUIET_PEAK when its peak lies below, and its
    long runs of digital silence as faint hiss (`with_hiss`)."""
    low, high = torch.aminmax(audio) if audio.numel() else (0.0, 0.0)
    peak = max(high, -low)  # not audio.abs().max(): no copy of an hour's audio
    return with_hiss(audio * (QUIET_PEAK / peak) if 0 < peak < QUIET_PEAK else audio)


def with_hiss(audio: Tensor) -> Tensor:
    """`audio` with each run of ZERO_RUN_S or more of whole chunks that hold one value (zeros,
    or a constant level) as hiss at DITHER (a copy; `audio` itself where there is none)."""
    whole = audio.shape[-1] // CHUNK * CHUNK
    low, high = torch.aminmax(audio[:whole].reshape(-1, CHUNK), dim=1)
    silent = (low == high).cpu().numpy().astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], silent, [0]))))
    shortest = math.ceil(ZERO_RUN_S * SAMPLE_RATE / CHUNK)
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= shortest]
    if not runs:
        return audio
    audio = audio.to(torch.float32, copy=True)
    generator = torch.Generator(audio.device).manual_seed(0)
    for start, end in runs:
        hiss = torch.randn((end - start) * CHUNK, generator=generator, device=audio.device)
        audio[start * CHUNK : end * CHUNK] = hiss * DITHER
    return audio


def probabilities(waveform) -> list[float]:
    """The VAD's speech probability of each 512-sample chunk of a mono 16 kHz waveform."""
    audio = audible(torch.as_tensor(waveform))
    return load_vad(str(audio.device))(audio).tolist()


def regions_of(waveform, options: VadOptions) -> list[tuple[int, int]]:
    """The VAD's speech regions (samples) of a mono 16 kHz waveform (NumPy or torch)."""
    return speech_regions(probabilities(waveform), len(waveform), options)


# Every pause of 200 ms or more, unpadded: where a long recording is cut into parts
# (`parts.py`), and what the check of words against speech reads (`long_silences`).
PAUSE_OPTIONS = VadOptions(min_speech_ms=0, min_silence_ms=200, speech_pad_ms=0)
# The word check reads pauses of at least this long, less an edge left to the speech on either
# side: sentence pauses (0.2-1.5 s) are never touched.
CHECKED_SILENCE_S = 2.0
SILENCE_EDGE_S = 0.2


# A music note's attack, or a click, can read as speech for a few chunks at a long stretch's
# edge; the decoder, handed that audio, wrote a word there ("Ooooh." on a synthetic note).
# Speech heard for less than BURST_S (silero-vad's own minimum speech, 250 ms) beside a pause
# of CHECKED_SILENCE_S or more belongs to that pause. A real short word beside a long silence
# is heard for longer (a "Yes." of dev-clean, between pauses of 0.4 and 1 s: 0.42 s).
BURST_S = 0.25


# The VAD's state after a long stretch of noise or music can keep it from hearing the speech
# that follows for seconds: after 15-180 s of mains hum, pink noise or recorded music, the
# first 5-6 s of jfk.flac ("And so my fellow Americans, ask not") read as no speech, so they
# were never decoded (silero-vad's `get_speech_timestamps` and faster-whisper's VAD, the same
# network, lose them too; alone, the VAD hears them from 0.3 s). So each long pause's end is
# read again from a fresh state starting RESCAN_S before it (further back while speech runs to
# that start), and the pause ends where the earliest read hears speech, if RESCAN_MIN_S or
# more sooner. From 4 s the reads hold less noise to adapt to; from 8 s they recover the jfk
# cases 4 s does not. On dev-clean's gap sets the first word after a gap had been heard 0.4 s
# or more later than in its utterance alone (so cut) at 14 of 248 gaps, then at 2; 2 reads
# took 1.7 and 5.7 s of music before speech for speech (docs/gaps.md).
RESCAN_S = (4.0, 8.0)
RESCAN_INTO_SPEECH_S = 2.0
RESCAN_MIN_S = 0.4


def pauses_of(waveform) -> list[tuple[int, int]]:
    """The (start, end) samples where the VAD hears no speech for 200 ms or more, a silent
    start and end of the audio included (the whole audio when it hears none); a burst of
    speech shorter than BURST_S beside a long pause is part of it, and a long pause ends where
    a fresh read of its end hears speech (RESCAN_S)."""
    audio = audible(torch.as_tensor(waveform))
    vad = load_vad(str(audio.device))
    return with_fresh_ends(vad, audio, pauses_in(vad(audio).tolist(), len(audio)))


def with_fresh_ends(
    vad: "SileroVAD", audio: Tensor, pauses: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The `pauses` of `audio`, each of CHECKED_SILENCE_S or more that speech ends ending
    where a fresh read of its end hears that speech (`speech_after`)."""
    longest = CHECKED_SILENCE_S * SAMPLE_RATE
    return [
        (a, speech_after(vad, audio, a, b)) if b - a >= longest and b < len(audio) else (a, b)
        for a, b in pauses
    ]


def pauses_in(probs: list[float], n_samples: int) -> list[tuple[int, int]]:
    """`pauses_of` from the chunk probabilities of audio of `n_samples`, as read."""
    regions = speech_regions(probs, n_samples, PAUSE_OPTIONS)
    regions = without_bursts(regions, probs, n_samples)
    bounds = [0, *(t for region in regions for t in region), n_samples]
    return [(a, b) for a, b in zip(bounds[::2], bounds[1::2]) if b > a]


def speech_after(vad: "SileroVAD", audio: Tensor, start: int, end: int) -> int:
    """Where the speech after a pause of `audio[start:end]` begins, read from a fresh state
    (RESCAN_S): `end`, or earlier."""
    earliest = end
    # The reads go on past `end` into the speech, so that a burst at a read's start is not its
    # last region (`without_bursts` keeps that).
    stop = min(end + round(RESCAN_INTO_SPEECH_S * SAMPLE_RATE), len(audio))
    for seconds in RESCAN_S:
        until = end
        while until > start:
            first = max(start, until - round(seconds * SAMPLE_RATE)) // CHUNK * CHUNK
            fresh = pauses_in(vad(audio[first:stop]).tolist(), stop - first)
            onsets = [b for a, b in fresh if b < until - first]
            if fresh and fresh[0][0] > 0:
                onsets.append(0)  # speech from the read's first chunk
            if not onsets:
                break
            earliest = min(earliest, max(first + min(onsets), start))
            if min(onsets) > 0:
                break
            until = first  # speech runs to the read's start: read from further back
    # What the default skips or shortens keeps 0.4 s beside the speech, so an onset less
    # than that sooner loses nothing; moving it would only move the cuts.
    return earliest if end - earliest >= RESCAN_MIN_S * SAMPLE_RATE else end


def without_bursts(
    regions: list[tuple[int, int]], probs: list[float], n_samples: int
) -> list[tuple[int, int]]:
    """The speech regions less those heard (chunks at or above the threshold) for under
    BURST_S beside a pause of CHECKED_SILENCE_S or more, until none is left; a file's last
    region stays."""
    threshold = PAUSE_OPTIONS.threshold
    longest = CHECKED_SILENCE_S * SAMPLE_RATE

    def heard_s(start: int, end: int) -> float:
        chunks = probs[start // CHUNK : -(-end // CHUNK)]
        return sum(p >= threshold for p in chunks) * CHUNK / SAMPLE_RATE

    regions = list(regions)
    dropped = True
    while dropped and len(regions) > 1:
        dropped = False
        for i, (start, end) in enumerate(regions):
            before = start - (regions[i - 1][1] if i > 0 else 0)
            after = (regions[i + 1][0] if i + 1 < len(regions) else n_samples) - end
            if max(before, after) >= longest and heard_s(start, end) < BURST_S:
                del regions[i]
                dropped = True
                break
    return regions


def long_pauses(pauses: list[tuple[int, int]], seconds: float) -> list[tuple[int, int]]:
    """The pauses of `seconds` or more."""
    return [(a, b) for a, b in pauses if b - a >= seconds * SAMPLE_RATE]


def long_silences(pauses: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """The pauses of CHECKED_SILENCE_S or more, in seconds, each narrowed by SILENCE_EDGE_S."""
    return [
        (round(a / SAMPLE_RATE + SILENCE_EDGE_S, 3), round(b / SAMPLE_RATE - SILENCE_EDGE_S, 3))
        for a, b in long_pauses(pauses, CHECKED_SILENCE_S)
    ]


def without_long_pauses(
    pauses: list[tuple[int, int]],
    n_samples: int,
    seconds: float,
    pad_s: float = 0.4,
    gap_seconds: float | None = None,
) -> SpeechMap | None:
    """The audio less its `pauses` of `seconds` or more, each less `pad_s` kept beside the
    speech on either side (faster-whisper's padding); None when no pause is that long. What the
    default decodes of a recording with long silences, noise or music (`transcribe`'s
    `skip_silence`). The pauses of `gap_seconds` or more (all, by default) are the map's gaps;
    the others are only shortened."""
    pad = round(pad_s * SAMPLE_RATE)
    regions, start = [], 0
    for a, b in long_pauses(pauses, seconds):
        end = a + pad if a > 0 else 0  # a silent start or end keeps no pad
        if end > start:
            regions.append((start, end))
        start = max(start, b - pad if b < n_samples else b)
    if start == 0 and not regions:
        return None
    if start < n_samples:
        regions.append((start, n_samples))
    gap = 0 if gap_seconds is None else round(gap_seconds * SAMPLE_RATE) - 2 * pad
    return SpeechMap(regions, gap)


def speech_map(waveform, options: VadOptions = FILTER_OPTIONS) -> SpeechMap:
    """What `vad_filter` decodes: the speech regions of a waveform, joined. A region after a
    long pause opens where a fresh read of the pause's end hears speech (RESCAN_S), as the
    default's pauses do: as read, the first seconds of speech after long noise or music were
    never decoded (faster-whisper's `vad_filter` loses them too)."""
    audio = audible(torch.as_tensor(waveform))
    vad = load_vad(str(audio.device))
    probs = vad(audio).tolist()
    regions = speech_regions(probs, len(audio), options)
    as_read = pauses_in(probs, len(audio))
    fresh = with_fresh_ends(vad, audio, as_read)
    moved = [(new, old) for (_, new), (_, old) in zip(fresh, as_read) if new < old]
    pad = round(options.speech_pad_ms * SAMPLE_RATE / 1000)
    return SpeechMap(with_sooner_onsets(regions, moved, pad))


def with_sooner_onsets(
    regions: list[tuple[int, int]], moved: list[tuple[int, int]], pad: int
) -> list[tuple[int, int]]:
    """`regions` (padded by `pad`) with each speech onset a fresh read moved sooner: a moved
    pause end (fresh, as read) straddling a region's onset opens it at the fresh one, less
    the pad, never into the region before."""
    opened = []
    for start, end in regions:
        floor = opened[-1][1] if opened else 0
        for fresh, read in moved:
            if floor <= fresh < start + pad <= read:
                start = max(floor, fresh - pad)
        opened.append((start, end))
    return opened


def speech_frames(waveform, options: VadOptions, hop: int = 160) -> np.ndarray:
    """Per 10 ms log-mel frame of the waveform, whether it lies in a speech region (the
    VAD-aware EAS budget keeps the audio tokens over these frames)."""
    frames = np.zeros(-(-len(waveform) // hop), dtype=bool)
    for start, end in regions_of(waveform, options):
        frames[start // hop : -(-end // hop)] = True
    return frames
