import importlib
import io
import json
import subprocess
import sys

import pytest
from conftest import DATA

from whisper_eas import EASConfig, Truncate
from whisper_eas.cli import UsageError, main


def test_transcribe_json(capsys):
    clips = [str(DATA / "jfk.flac"), str(DATA / "1272-128104-0000.mp3")]
    assert (
        main(
            [
                "transcribe",
                *clips,
                "--output-format",
                "json",
                "--eas-layer",
                "2",
                "--eas-sparsity",
                "0.5",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in records] == clips
    assert "fellow Americans" in records[0]["text"] and "Quilter" in records[1]["text"]
    assert all(r["tokens"] and r["kept_tokens"] == [750] for r in records)


def test_transcribe_txt(capsys):
    assert main(["transcribe", str(DATA / "1089-134691-0000.flac")]) == 0
    assert capsys.readouterr().out.strip() == "He could wait no longer."


def run_error(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


def test_errors_are_clear(capsys, tmp_path):
    code, err = run_error(["transcribe", "missing.wav"], capsys)
    assert code == 2 and "audio file not found: missing.wav" in err
    code, err = run_error(
        ["transcribe", str(DATA / "jfk.flac"), "--eas-layer", "9", "--eas-sparsity", "0.5"], capsys
    )
    assert code == 2 and "EAS layer 9 is out of range" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--eas-layer", "2"], capsys)
    assert code == 2 and "both --eas-layer and --eas-sparsity" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--model", "gigantic"], capsys)
    assert code == 2 and "unknown model 'gigantic'" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--dtype", "float64"], capsys)
    assert code == 2 and "unsupported dtype" in err
    code, err = run_error(["convert", str(tmp_path), str(tmp_path / "out")], capsys)
    assert code == 2 and "no Whisper weights" in err


def test_a_bad_file_does_not_stop_the_others(capsys, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all")
    good = [str(DATA / "1089-134691-0000.flac"), str(DATA / "jfk.flac")]
    code = main(["transcribe", good[0], str(broken), "missing.wav", good[1]])
    out, err = capsys.readouterr()
    assert code == 2
    assert [line.split("\t")[0] for line in out.splitlines()] == good
    assert "cannot decode audio file" in err and "audio file not found: missing.wav" in err


def test_subtitles_parse_and_every_format_is_written(tmp_path):
    import pysubs2

    assert (
        main(
            [
                "transcribe",
                str(DATA / "jfk.flac"),
                "-f",  # openai-whisper's short names
                "all",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert {p.name for p in tmp_path.iterdir()} == {
        f"jfk.{f}" for f in ("txt", "json", "srt", "vtt", "tsv")
    }
    record = json.loads((tmp_path / "jfk.json").read_text())
    for name in ("srt", "vtt"):
        events = pysubs2.load(str(tmp_path / f"jfk.{name}"))
        assert [e.text for e in events] == [s["text"] for s in record["segments"]]
        assert [(e.start, e.end) for e in events] == [
            (round(1000 * s["start"]), round(1000 * s["end"])) for s in record["segments"]
        ]
    assert (tmp_path / "jfk.tsv").read_text().splitlines()[0] == "start\tend\ttext"


def test_ctrl_c_stops_cleanly(capsys, monkeypatch):
    module = importlib.import_module(
        "whisper_eas.transcribe"
    )  # the package exports a function of that name

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(module, "transcribe_files", interrupted)
    assert main(["transcribe", str(DATA / "jfk.flac")]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "whisper-eas: interrupted" and "Traceback" not in err


def test_version_and_help(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("whisper-eas 0.")
    with pytest.raises(SystemExit):
        main(["transcribe", "--help"])
    assert "(default: tiny.en)" in capsys.readouterr().out


def test_recommended_eas_and_bad_flag_combinations(capsys):
    from whisper_eas.cli import build_parser, eas_from_arguments

    for name in ("tiny.en", "base"):
        args = build_parser().parse_args(["transcribe", "x.wav", "--eas", "--model", name])
        assert eas_from_arguments(args, name) == EASConfig.recommended(name)
    args = build_parser().parse_args(
        ["transcribe", "x.wav", "--eas", "--eas-padding-tokens", "100"]
    )
    # the recommended setting with one field changed
    assert eas_from_arguments(args, "tiny.en").rule == Truncate(100, min_dropped=500)
    assert main(["transcribe", str(DATA / "jfk.flac"), "--eas", "--output-format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert 550 < record["kept_tokens"][0] < 1500  # 11 s of speech (550 tokens) + padding


def test_every_format_without_a_folder_goes_to_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # openai-whisper's habit; txt holds one segment per line
    assert main(["transcribe", str(DATA / "1221-135766-0001.flac"), "--output-format", "all"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [f"1221-135766-0001.{f}" for f in ("json", "srt", "tsv", "txt", "vtt")]
    lines = (tmp_path / "1221-135766-0001.txt").read_text().splitlines()
    assert len(lines) >= 2 and all(line.strip() for line in lines)


def test_user_slips_are_named(capsys, tmp_path, monkeypatch):
    """A folder given as audio, --task translate on an English-only model, --debug after the
    command, and eval without the research extra: each a one-line error (or, with --debug,
    the traceback)."""
    import sys

    import pytest

    code, err = run_error(["transcribe", str(tmp_path)], capsys)
    assert code == 2 and "is a directory, not an audio file" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--task", "translate"], capsys)
    assert code == 2 and "English-only model; it cannot translate" in err
    with pytest.raises(ValueError, match="unsupported dtype"):
        main(["transcribe", str(DATA / "jfk.flac"), "--dtype", "int4", "--debug"])
    monkeypatch.setitem(sys.modules, "jiwer", None)  # as if the research extra were missing
    code, err = run_error(["eval", "--data", str(DATA), "--output", "x.jsonl"], capsys)
    assert code == 2 and 'pip install "whisper-eas[research]"' in err and "jiwer" in err


def test_help_shows_every_default_and_search_offers_no_eas(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["transcribe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: transcribe)", "(default: txt)", "(default: 300)"):
        assert default in text, default
    assert "--eas-aggregate" not in text  # research knobs live on eval and search
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "(default: mean)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "  --eas " not in capsys.readouterr().out


def test_version_has_one_source():
    from importlib.metadata import version

    import whisper_eas

    assert version("whisper-eas") == whisper_eas.__version__


def test_two_inputs_with_one_stem_are_written_apart(tmp_path, capsys):
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "jfk.flac").write_bytes((DATA / "jfk.flac").read_bytes())
    out = tmp_path / "out"
    argv = ["transcribe", str(DATA / "jfk.flac"), str(twin / "jfk.flac"), "--output-dir", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["jfk-2.txt", "jfk.txt"]
    assert "written as jfk-2.*" in capsys.readouterr().err


def test_files_are_read_when_their_row_starts(tiny, monkeypatch):
    """Six files at batch size 1: when the first result comes, only the first file has been
    read (the CLI no longer decodes every input before starting)."""
    from whisper_eas import transcribe as _  # noqa: F401  (the package's function)

    module = importlib.import_module("whisper_eas.transcribe")
    reads = []
    original = module.load_audio
    monkeypatch.setattr(module, "load_audio", lambda p: reads.append(p) or original(p))
    clip = str(DATA / "1089-134691-0000.flac")
    results = module.transcribe_files(tiny, [clip] * 6, batch_size=1)
    next(results)
    assert len(reads) == 1
    assert len(list(results)) == 5 and len(reads) == 6


def test_a_bad_path_in_a_list_keeps_the_other_results(tiny, tmp_path):
    from whisper_eas import transcribe

    results = transcribe(tiny, [str(DATA / "1089-134691-0000.flac"), str(tmp_path / "no.wav")])
    assert results[0].text == "He could wait no longer." and results[0].error is None
    assert results[1].text == "" and "audio file not found" in results[1].error


def test_openai_whisper_spellings_thresholds_and_segment_ids(capsys):
    """`--output_format` style options; the fallback thresholds reach the Safeguards; segments
    carry their id and the window's seek (log-mel frames)."""
    from whisper_eas.cli import build_parser, dashed, fallback_temperatures

    args = build_parser().parse_args(dashed(
        ["transcribe", "x.wav", "--temperature_increment_on_fallback=0.25",
         "--logprob_threshold", "none", "--no_speech_threshold", "0.5"]
    ))  # fmt: skip
    assert fallback_temperatures(args) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert args.logprob_threshold is None and args.no_speech_threshold == 0.5
    clip = str(DATA / "1221-135766-0001.flac")
    assert main(["transcribe", clip, "--output_format", "json", "--quiet"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in record["segments"]] == list(range(len(record["segments"])))
    assert record["segments"][0]["seek"] == 0 and len(record["segments"]) >= 2
    assert main(["transcribe", clip, "--temperature", "2"]) == 2
    assert "--temperature must be in [0, 1]" in capsys.readouterr().err


def test_verbose_prints_each_segment_as_it_is_decoded(capsys):
    import re

    clip = str(DATA / "1221-135766-0001.flac")
    assert main(["transcribe", clip, "--verbose", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    timed = [
        line for line in lines if re.match(r"\[\d\d:\d\d\.\d{3} --> \d\d:\d\d\.\d{3}\] ", line)
    ]
    assert len(timed) >= 2 and lines.index(timed[-1]) < len(lines) - 1  # then the text
    assert timed[0].startswith("[00:00.000 --> ")


def test_beam_size_on_the_command_line(capsys):
    clip = str(DATA / "1089-134691-0000.flac")
    assert main(["transcribe", clip, "--beam_size", "5", "--patience", "2"]) == 0
    assert capsys.readouterr().out.strip() == "He could wait no longer."
    code, err = run_error(["transcribe", clip, "--beam-size", "0"], capsys)
    assert code == 2 and "beam_size must be >= 1" in err
    assert main(["transcribe", clip, "--prefix", "Well,"]) == 0
    assert capsys.readouterr().out.strip() == "Well, he could wait no longer."


def test_repetition_controls_on_the_command_line(capsys):
    """faster-whisper's repetition_penalty and no_repeat_ngram_size (whisper-ctranslate2's
    flags): jfk.flac's second "what you/your country" is written otherwise under both."""
    clip = str(DATA / "jfk.flac")
    assert main(["transcribe", clip]) == 0
    plain = capsys.readouterr().out.strip()
    args = ["transcribe", clip, "--repetition_penalty", "1.5", "--no-repeat-ngram-size", "2"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() not in ("", plain)
    code, err = run_error(["transcribe", clip, "--repetition-penalty", "0"], capsys)
    assert code == 2 and "repetition_penalty must be > 0" in err
    code, err = run_error(["transcribe", clip, "--no-repeat-ngram-size", "-2"], capsys)
    assert code == 2 and "no_repeat_ngram_size must be an integer >= 0" in err
    assert main(["transcribe", clip, "--max-initial-timestamp", "none"]) == 0
    assert capsys.readouterr().out.strip() == plain
    code, err = run_error(["transcribe", clip, "--max_initial_timestamp", "-1"], capsys)
    assert code == 2 and "max_initial_timestamp must be >= 0 or None" in err


def test_subtitle_layout_breaks_lines_cues_and_underlines_words():
    """openai-whisper's subtitle options, on hand-timed words: two segments of four words."""
    from whisper_eas.outputs import SubtitleLayout, cues_of, to_srt
    from whisper_eas.segments import Segment
    from whisper_eas.timing import Word
    from whisper_eas.transcribe import Transcription

    def segment(words, start):
        timed = [Word(w, start + i, start + i + 0.5, 0.9) for i, w in enumerate(words)]
        return Segment(start, start + len(words) - 0.5, "".join(words).strip(), [], 0.0, 1.0,
                       0.0, 0.0, 1500, timed)  # fmt: skip

    first = segment([" And", " so", " my", " fellow"], 0.0)
    second = segment([" Americans,", " ask", " not", " what"], 4.0)
    result = Transcription("", [first, second], None, 8.0, 1)
    plain = cues_of(result, SubtitleLayout())
    assert plain == [(0.0, 3.5, "And so my fellow"), (4.0, 7.5, "Americans, ask not what")]
    wrapped = cues_of(result, SubtitleLayout(max_line_width=10))  # a segment stays one cue
    assert wrapped == [(0.0, 3.5, "And so my\nfellow"), (4.0, 7.5, "Americans,\nask not\nwhat")]
    two_lines = cues_of(result, SubtitleLayout(max_line_width=10, max_line_count=2))
    texts = [text for _, _, text in two_lines]
    assert texts == ["And so my\nfellow", "Americans,\nask not", "what"]
    chunks = cues_of(result, SubtitleLayout(max_words_per_line=3))
    assert [text for _, _, text in chunks] == ["And so my", "fellow", "Americans, ask not", "what"]
    marked = cues_of(result, SubtitleLayout(max_words_per_line=2, highlight_words=True))
    assert marked[:3] == [
        (0.0, 0.5, "<u>And</u> so"), (0.5, 1.0, "And so"), (1.0, 1.5, "And <u>so</u>"),
    ]  # fmt: skip
    assert [text for _, _, text in marked][6] == "<u>Americans,</u> ask"
    assert to_srt(result, "x", SubtitleLayout(max_line_width=10)).count("-->") == 2
    with pytest.raises(ValueError, match="max_line_width must be >= 1"):
        SubtitleLayout(max_line_width=0)


def test_subtitle_flags_need_word_timestamps(capsys):
    clip = str(DATA / "jfk.flac")
    code, err = run_error(["transcribe", clip, "--output-format", "srt", "--max-line-width", "20"],
                          capsys)  # fmt: skip
    assert code == 2 and "add --word-timestamps" in err
    assert main(["transcribe", clip, "--output-format", "srt", "--word-timestamps",
                 "--max_line_width", "20", "--max-line-count", "1"]) == 0  # fmt: skip
    cues = capsys.readouterr().out.split("\n\n")
    assert len(cues) > 4 and all(len(c.split("\n")[2]) <= 20 for c in cues if c.strip())


def test_audio_piped_into_standard_input(capsys, monkeypatch, tmp_path):
    """'-' reads the audio from standard input (`ffmpeg -i talk.mkv -f wav - | whisper-eas
    transcribe -`), written as stdin.* into a folder; an empty pipe, a terminal and a second
    '-' are refused by name, as an empty file is."""
    clip = DATA / "1089-134691-0000.flac"
    piped = lambda data: io.TextIOWrapper(io.BytesIO(data))  # noqa: E731
    monkeypatch.setattr(sys, "stdin", piped(clip.read_bytes()))
    assert main(["transcribe", "-"]) == 0
    assert capsys.readouterr().out.strip() == "He could wait no longer."
    monkeypatch.setattr(sys, "stdin", piped(clip.read_bytes()))
    assert main(["transcribe", "-", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "stdin.txt").read_text().strip() == "He could wait no longer."
    monkeypatch.setattr(sys, "stdin", piped(b""))
    code, err = run_error(["transcribe", "-"], capsys)
    assert code == 2 and "standard input is empty" in err
    monkeypatch.setattr(sys, "stdin", type("Terminal", (), {"isatty": lambda self: True})())
    code, err = run_error(["transcribe", "-"], capsys)
    assert code == 2 and "nothing is piped into it" in err
    code, err = run_error(["transcribe", "-", "-"], capsys)
    assert code == 2 and "can be given once" in err
    (tmp_path / "empty.mp3").write_bytes(b"")
    code, err = run_error(["transcribe", str(tmp_path / "empty.mp3")], capsys)
    assert code == 2 and "empty.mp3 is empty (0 bytes)" in err


def test_the_program_flushes_its_output_and_exit_status_before_it_ends():
    # Run as a program, the CLI ends its process without the interpreter's teardown
    # (`cli.main`): what it printed must still reach a pipe, with its exit status.
    done = subprocess.run(
        [sys.executable, "-m", "whisper_eas", "transcribe", "--model", "tiny.en", "--threads",
         "1", "--quiet", str(DATA / "jfk.flac"), str(DATA / "missing.flac")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ask not what your country can do for you" in done.stdout
    assert done.stdout.endswith("\n")
    assert "audio file not found" in done.stderr and "missing.flac" in done.stderr


def test_openai_whisper_options_that_take_true_or_false(capsys, tmp_path, monkeypatch):
    """A command written for openai-whisper's CLI: `--word_timestamps True`,
    `--condition_on_previous_text False`, `--fp16`, `--carry_initial_prompt`, the punctuation
    sets and `--model_dir` (where the weights are kept)."""
    from whisper_eas.cli import (
        build_parser,
        dashed,
        decoding_options,
        model_dtype,
        prompt_texts,
        with_booleans,
    )

    def parse(argv):
        return build_parser().parse_args(with_booleans(dashed(argv)))

    args = parse(["transcribe", "--word_timestamps", "True", "--condition_on_previous_text",
                  "False", "--verbose", "False", "x.wav", "--highlight_words=True", "--fp16",
                  "False"])  # fmt: skip
    assert args.files == ["x.wav"] and args.word_timestamps and args.no_condition
    assert args.highlight_words and not args.verbose and not args.fp16
    args = parse(["transcribe", "--verbose", "--word-timestamps", "x.wav"])  # ours, bare
    assert args.verbose and args.word_timestamps and args.files == ["x.wav"]
    args = parse(["transcribe", "x.wav", "--fp16", "True"])
    assert model_dtype(args, "cuda") == "float16" and model_dtype(args, "cpu") is None
    assert "float32 on the CPU" in capsys.readouterr().err
    args = parse(["transcribe", "x.wav", "--initial_prompt", "Ruggedo.", "--carry_initial_prompt",
                  "True"])  # fmt: skip
    assert decoding_options(args).hotwords == "Ruggedo."  # every window's prompt holds it
    assert prompt_texts(args) == (None, "Ruggedo.")  # once, not again as the text before
    with pytest.raises(UsageError, match="carry_initial_prompt needs an initial_prompt"):
        prompt_texts(parse(["transcribe", "x.wav", "--carry-initial-prompt"]))
    args = parse(["transcribe", "x.wav", "--beam_size", "None", "--best_of", "None", "--patience",
                  "None", "--max_line_width", "None", "--threads", "0"])  # fmt: skip
    assert args.beam_size is None and args.best_of is None and args.patience is None
    assert args.max_line_width is None and args.threads == 0  # 0: torch's choice
    with pytest.raises(SystemExit):
        main(["transcribe", "x.wav", "--fp16=maybe"])
    assert "--fp16 takes True or False, got 'maybe'" in capsys.readouterr().err

    monkeypatch.setenv("WHISPER_EAS_CACHE", str(tmp_path / "unused"))  # restored afterwards
    jfk = str(DATA / "jfk.flac")
    argv = ["transcribe", jfk, "--word_timestamps", "True", "-f", "json", "--quiet"]
    assert main([*argv, "--model_dir", str(tmp_path / "weights")]) == 0
    words = [w["word"] for s in json.loads(capsys.readouterr().out)["segments"] for w in s["words"]]
    assert words[-1] == " country." and [p.name[:8] for p in (tmp_path / "weights").iterdir()] == [
        "tiny.en-"
    ]
    assert main([*argv, "--append_punctuations", ""]) == 0  # the full stop stays a word
    words = [w["word"] for s in json.loads(capsys.readouterr().out)["segments"] for w in s["words"]]
    assert words[-2:] == [" country", "."]


def test_more_threads_than_cores_is_warned(monkeypatch):
    import argparse
    import os
    import warnings

    import torch

    from whisper_eas import cli

    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)  # the tests keep their threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    with pytest.warns(UserWarning, match="--threads 3 is more than the 2 CPUs"):
        cli.set_threads(argparse.Namespace(threads=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as many threads as cores: no warning
        cli.set_threads(argparse.Namespace(threads=2))
    assert asked == [3, 2]
