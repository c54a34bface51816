"""Evaluation loop: datasets in both layouts, the normalised WER, Pareto front and Eq. 3,
resumable search files, and the report. No model is needed except where named."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import DATA, MANIFEST

import whisper_eas.research.search as evaluate
from whisper_eas import EASConfig, Scoring, TopK
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate
from whisper_eas.research.report import label, markdown, write_report
from whisper_eas.research.search import config_key, pareto_front, read_results, run_search, select
from whisper_eas.research.settings import config_from_fields, config_from_record, fields_of
from whisper_eas.rules import window_keep_count


def point(key, wer, rtf):
    return {"key": key, "wer": wer, "rtf": rtf}


# --- Pareto front and Eq. 3 ---------------------------------------------------------------


def test_pareto_front_drops_only_strictly_dominated_points():
    points = [
        point("a", 0.05, 0.20),
        point("b", 0.06, 0.10),
        point("c", 0.07, 0.15),
        point("d", 0.05, 0.20),
        point("e", 0.06, 0.25),
    ]
    # c is beaten by b on both axes, e by a; a and d tie exactly and both stay.
    assert [p["key"] for p in pareto_front(points)] == ["a", "b", "d"]


def test_pareto_front_keeps_ties_on_one_axis():
    # Same RTF, different WER: the worse one is not *strictly* beaten on RTF, so both stay
    # (Eq. 3 wording).
    points = [point("a", 0.05, 0.10), point("b", 0.06, 0.10)]
    assert [p["key"] for p in pareto_front(points)] == ["a", "b"]


def test_eq3_selects_fastest_admissible_front_points():
    baseline = point("baseline", 0.050, 0.30)
    points = [
        baseline,
        point("fast-but-bad", 0.080, 0.10),  # accuracy 0.92 < 0.99 * 0.95 = 0.9405: not admissible
        point("ok-1", 0.058, 0.15),  # accuracy 0.942 >= 0.9405
        point("ok-2", 0.055, 0.18),
        point("ok-3", 0.052, 0.20),
        point("ok-4", 0.051, 0.25),
        point("dominated", 0.059, 0.16),  # beaten by ok-1 on both
    ]
    assert [p["key"] for p in select(points, baseline)] == ["ok-1", "ok-2", "ok-3"]
    assert [p["key"] for p in select(points, baseline, top=10)] == [
        "ok-1",
        "ok-2",
        "ok-3",
        "ok-4",
        "baseline",
    ]


def test_eq3_boundary_is_inclusive():
    baseline = point("baseline", 0.0, 0.30)
    edge = point("edge", 0.01, 0.10)  # accuracy exactly 0.99 of 1.0
    assert select([baseline, edge], baseline)[0]["key"] == "edge"


def test_eq3_baseline_that_is_itself_optimal():
    """Every sparsified point is dominated or inadmissible: the baseline is the only choice."""
    baseline = point("baseline", 0.05, 0.10)
    points = [baseline, point("slower", 0.06, 0.12), point("worse", 0.30, 0.09)]
    assert [p["key"] for p in select(points, baseline)] == ["baseline"]
    # Eq. 3 is strict on both axes: an equally accurate but slower point is not dominated.
    tie = point("equal-wer-slower", 0.05, 0.12)
    assert [p["key"] for p in select(points + [tie], baseline)] == ["baseline", "equal-wer-slower"]


def test_eq3_ties_in_rtf_break_on_wer_then_key():
    baseline = point("baseline", 0.05, 0.30)
    points = [baseline, point("b", 0.050, 0.20), point("a", 0.050, 0.20), point("c", 0.051, 0.20)]
    assert [p["key"] for p in select(points, baseline)] == ["a", "b", "c"]


# --- WER ----------------------------------------------------------------------------------


def test_normaliser_is_applied_to_both_sides():
    # Case, punctuation, "Mr." vs "mister", spelled-out numbers, British spelling: all equal
    # after normalising.
    references = [
        "MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES",
        "HE PAID TWENTY FIVE POUNDS FOR THE COLOUR",
    ]
    hypotheses = [
        "Mr. Quilter is the apostle of the middle classes.",
        "He paid 25 pounds for the color!",
    ]
    assert word_error_rate(references, hypotheses) == 0.0
    assert word_error_rate(hypotheses, references) == 0.0


def test_wer_counts_real_errors_over_all_reference_words():
    assert word_error_rate(
        ["the cat sat", "on the mat"], ["the cat sat", "on a mat"]
    ) == pytest.approx(1 / 6)


# --- datasets -----------------------------------------------------------------------------


def librispeech_tree(root, records):
    """Lay fixture clips out as SPEAKER/CHAPTER/ID.flac with SPEAKER-CHAPTER.trans.txt."""
    for record in records:
        speaker, chapter, _ = record["id"].split("-")
        folder = root / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / record["audio"], folder / f"{record['id']}.flac")
        with (folder / f"{speaker}-{chapter}.trans.txt").open("a") as file:
            file.write(f"{record['id']} {record['text']}\n")
    return root


LIBRISPEECH = [r for r in MANIFEST if r["audio"].endswith(".flac") and r["id"].count("-") == 2]


def test_librispeech_tree_and_manifest_read_the_same_utterances(tmp_path):
    tree = read_dataset(librispeech_tree(tmp_path / "tree", LIBRISPEECH))
    manifest = read_dataset(DATA / "manifest.jsonl")
    assert len(tree) == len(LIBRISPEECH) >= 5
    by_id = {u.id: u for u in manifest}
    for utterance in tree:
        assert utterance.text == by_id[utterance.id].text
        assert utterance.audio.read_bytes() == by_id[utterance.id].audio.read_bytes()
    assert read_dataset(DATA) == manifest  # a folder holding manifest.jsonl


def test_subset_and_limit_keep_the_subset_order(tmp_path):
    root = librispeech_tree(tmp_path / "tree", LIBRISPEECH)
    wanted = [LIBRISPEECH[2]["id"], LIBRISPEECH[0]["id"], LIBRISPEECH[1]["id"]]
    (tmp_path / "subset.txt").write_text("\n".join(wanted) + "\n")
    assert [u.id for u in read_dataset(root, tmp_path / "subset.txt", limit=2)] == wanted[:2]


def test_a_subset_file_is_found_beside_the_data(tmp_path, monkeypatch):
    """`--subset subset300.txt` names the file in the data folder, as the README's example."""
    root = librispeech_tree(tmp_path / "tree", LIBRISPEECH)
    (root / "mine.txt").write_text(LIBRISPEECH[1]["id"] + "\n")
    monkeypatch.chdir(tmp_path)  # no mine.txt here
    assert [u.id for u in read_dataset(root, "mine.txt")] == [LIBRISPEECH[1]["id"]]
    with pytest.raises(FileNotFoundError, match="subset file not found: other.txt"):
        read_dataset(root, "other.txt")


def test_missing_audio_transcript_and_subset_ids_are_reported(tmp_path, capsys):
    root = librispeech_tree(tmp_path / "tree", LIBRISPEECH)
    missing_audio = next(root.rglob(f"{LIBRISPEECH[0]['id']}.flac"))
    missing_audio.unlink()
    untranscribed = missing_audio.parent / "9999.flac"
    shutil.copy(DATA / LIBRISPEECH[1]["audio"], untranscribed)
    (tmp_path / "subset.txt").write_text("0000-0000-0000\n" + LIBRISPEECH[1]["id"] + "\n")
    with pytest.raises(ValueError) as error:
        read_dataset(root, tmp_path / "subset.txt")
    message = str(error.value)
    assert "3 problem(s)" in message
    assert f"{LIBRISPEECH[0]['id']}.flac is missing" in message
    assert "9999.flac: no transcript line" in message
    assert "subset id 0000-0000-0000" in message
    kept = read_dataset(root, tmp_path / "subset.txt", skip_missing=True)
    assert [u.id for u in kept] == [LIBRISPEECH[1]["id"]]
    assert "skipping 3 dataset problem(s)" in capsys.readouterr().err


def test_manifest_problems_are_reported(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps({"id": "a", "audio": "nope.flac", "text": "x"})
        + "\n"
        + json.dumps({"id": "b"})
        + "\n"
    )
    with pytest.raises(
        ValueError, match=r"(?s)audio file .*nope.flac is missing.*needs 'id', 'audio' and 'text'"
    ):
        read_dataset(tmp_path / "manifest.jsonl")


def test_not_a_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        read_dataset(tmp_path / "absent")
    with pytest.raises(ValueError, match="neither a JSONL manifest nor a LibriSpeech tree"):
        read_dataset(tmp_path)


# --- resumable search ---------------------------------------------------------------------

CONFIGS = [None, EASConfig(1, TopK(0.5)), EASConfig(2, TopK(0.5)), EASConfig(3, TopK(0.6))]
HEADER = {
    "type": "header",
    "identity": {"model": "m", "data": "d", "utterances": 2},
    "date": "2026-01-01",
    "commit": "x",
}


def fake_evaluate(model, utterances, eas, attention="sdpa", progress=True):
    """Deterministic stand-in for a model run: the numbers depend only on the configuration."""
    sparsity = fields_of(eas)["sparsity"] if eas else 0.0
    layer = eas.layer if eas else 0
    return {
        "eas": None if eas is None else {"layer": layer, "sparsity": sparsity},
        "wer": 0.05 + 0.01 * layer * sparsity,
        "rtf": 0.2 - 0.1 * sparsity,
        "hypotheses": {"u1": f"text {layer} {sparsity}"},
    }


def test_resume_after_interruption_gives_the_uninterrupted_file(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "evaluate", fake_evaluate)
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    run_search(None, [], CONFIGS, uninterrupted, HEADER, "sdpa")

    calls = []

    def interrupted_evaluate(model, utterances, eas, attention="sdpa", progress=True):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third configuration
        calls.append(eas)
        return fake_evaluate(model, utterances, eas)

    resumed = tmp_path / "resumed.jsonl"
    monkeypatch.setattr(evaluate, "evaluate", interrupted_evaluate)
    with pytest.raises(KeyboardInterrupt):
        run_search(None, [], CONFIGS, resumed, HEADER, "sdpa")
    assert len(read_results(resumed)[1]) == 2  # what finished is on disk

    rerun = []
    monkeypatch.setattr(
        evaluate,
        "evaluate",
        lambda m, u, eas, a="sdpa", p=True: rerun.append(eas) or fake_evaluate(m, u, eas),
    )
    run_search(None, [], CONFIGS, resumed, HEADER, "sdpa")
    assert rerun == CONFIGS[2:]  # only the unfinished configurations ran again
    assert resumed.read_text() == uninterrupted.read_text()


def test_changed_settings_are_refused_not_mixed(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "evaluate", fake_evaluate)
    output = tmp_path / "results.jsonl"
    run_search(None, [], CONFIGS[:2], output, HEADER, "sdpa")
    before = output.read_text()
    changed = {**HEADER, "identity": {**HEADER["identity"], "model": "other", "utterances": 3}}
    with pytest.raises(ValueError, match=r"different settings \(model, utterances\)"):
        run_search(None, [], CONFIGS, output, changed, "sdpa")
    assert output.read_text() == before


def test_config_keys_are_distinct_and_stable():
    keys = {
        config_key(c)
        for c in CONFIGS
        + [
            EASConfig(1, TopK(0.5, Scoring(scorer="chunked"))),
            EASConfig(1, TopK(0.5, Scoring(cross_layer=True))),
        ]
    }
    assert len(keys) == 6
    assert config_key(EASConfig(1, TopK(0.5))) == config_key(EASConfig(1, TopK(0.5)))


# --- report -------------------------------------------------------------------------------


def record(eas, wer, rtf, tokens=30.0):
    return {
        "type": "result",
        "key": config_key(eas),
        "eas": None if eas is None else fields_of(eas),
        "wer": wer,
        "accuracy": 1 - wer,
        "rtf": rtf,
        "audio_seconds": 20.0,
        "tokens_per_utterance": tokens,
        "hit_max_length": 0,
        "kept_tokens": 1500 if eas is None else window_keep_count(fields_of(eas)["sparsity"], 1500),
        "seconds": {"mel": 0.1, "stem": 0.2, "encoder": 1.0, "decoder": 2.0, "total": 3.3},
        "hypotheses": {"a": "", "b": ""},
    }


def results_file(path):
    header = {
        **HEADER,
        "identity": {
            "model": "base",
            "data": str(path.parent / "nowhere"),
            "utterances": 2,
            "device": "cpu",
            "dtype": "float32",
            "attention": "sdpa",
            "normalizer": "N",
        },
        "device_name": "CPU",
        "threads": 2,
        "torch": "2.x",
    }
    rows = [
        record(None, 0.050, 0.30),
        record(EASConfig(1, TopK(0.5)), 0.052, 0.20),
        record(EASConfig(2, TopK(0.6)), 0.09, 0.15),
        record(EASConfig(3, TopK(0.5)), 0.0505, 0.25),
    ]
    rows += [
        record(config_from_fields(6, sparsity=s, aggregate=aggregate, cross_layer=True), w, 0.3)
        for s, wers in ((0.5, (0.051, 0.2, 0.3)), (0.7, (0.06, 0.5, 0.04)))
        for aggregate, w in zip(("mean", "max", "random"), wers)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *rows]))
    return path


def test_report_markdown_has_table1_all_rows_and_table2(tmp_path):
    header, results = read_results(results_file(tmp_path / "r.jsonl"))
    text = markdown(header, results)
    assert "| Baseline | 5.000 | 0.3000 |" in text
    assert "| (1, 0.5) | 5.200 (0.998) | 0.2000 (1.500×) |" in text  # Eq. 3's first choice
    assert "| (3, 0.5) | 5.050 (0.999) | 0.2500 (1.200×) |" in text
    assert "(2, 0.6) |" not in text.split("## All configurations")[0]  # 9 % WER is not admissible
    assert (
        text.split("## All configurations")[1].count("\n| (6, 0.") == 6
    )  # every cross-layer run is listed
    assert "| sparsity | mean | max | random |" in text
    assert "| 0.5 | **5.10** | 20.00 | 30.00 |" in text
    assert "| 0.7 | 6.00 | 50.00 | **4.00** |" in text
    assert label(results[4]) == "(6, 0.5) cross-layer"


def test_report_writes_plots_and_notes_missing_example(tmp_path):
    pytest.importorskip("matplotlib")
    folder = write_report(results_file(tmp_path / "r.jsonl"))
    assert folder == tmp_path / "r"
    for name in ("fig2_pareto.png", "fig4_time_breakdown.png", "fig5_tokens.png", "speedup.png"):
        assert_drawn(folder / name)
    assert "No kept-tokens picture" in (folder / "report.md").read_text()


def assert_drawn(path):
    """A real figure: a PNG of a figure's size with more than a background colour on it."""
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 400, (path.name, pixels.shape)
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::97].round(2).tolist()}
    assert len(colours) >= 8, (path.name, len(colours))  # axes, labels, lines, points


def test_report_when_the_baseline_is_the_only_choice(tmp_path):
    """Eq. 3 may choose only the baseline (no EAS setting is accurate enough): the report still
    draws the kept-tokens picture from the grid (before: a TypeError and no report.md)."""
    pytest.importorskip("matplotlib")
    header, rows = read_results(results_file(tmp_path / "r.jsonl"))
    only_baseline = tmp_path / "only.jsonl"
    lines = [header, rows[0], rows[2]]  # (2, 0.6) at 9 % WER is not admissible
    only_baseline.write_text("".join(json.dumps(line) + "\n" for line in lines))
    folder = write_report(only_baseline, example=DATA / "jfk.flac")
    assert "![kept tokens](kept_tokens.png)" in (folder / "report.md").read_text()
    assert_drawn(folder / "kept_tokens.png")


def test_report_kept_tokens_picture(tmp_path, base):
    """With the model and an example clip, the picture of kept tokens is drawn."""
    pytest.importorskip("matplotlib")
    from whisper_eas.research.report import plot_kept_tokens

    summary = plot_kept_tokens(
        base, DATA / MANIFEST[0]["audio"], EASConfig(2, TopK(0.5)), tmp_path / "kept.png"
    )
    assert_drawn(tmp_path / "kept.png")
    assert summary.startswith("(2, 0.5): kept 750 of 1500 tokens")


def test_report_errors_are_clear(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="holds no search results"):
        write_report(empty)
    only_eas = tmp_path / "only.jsonl"
    header, rows = read_results(results_file(tmp_path / "r.jsonl"))
    only_eas.write_text("".join(json.dumps(line) + "\n" for line in [header, *rows[1:]]))
    with pytest.raises(ValueError, match="no baseline row"):
        write_report(only_eas, plots=False)


def test_report_command(tmp_path, capsys):
    from whisper_eas.cli import main

    assert (
        main(
            [
                "report",
                str(results_file(tmp_path / "r.jsonl")),
                "--no-plots",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert (tmp_path / "out" / "report.md").is_file()
    assert main(["report", str(tmp_path / "absent.jsonl")]) == 2
    assert "results file not found" in capsys.readouterr().err


def test_every_committed_setting_reads_back_as_the_same_fields():
    """The rules became classes (rules.py); results files keep naming settings by their flat
    fields, so each committed file's settings must rebuild to a rule that writes them back."""
    results = Path(__file__).parent.parent / "benchmarks" / "results"
    checked = 0
    for path in results.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["type"] != "result" or row["eas"] is None:
                continue
            written = {k: v for k, v in row["eas"].items() if v is not None}
            if not written.get("vad"):  # the VAD fields count only when the VAD decides
                written = {k: v for k, v in written.items() if not k.startswith("vad")}
            fields = fields_of(config_from_record(row["eas"]))
            assert {k: fields.get(k) for k in written} == written, path
            checked += 1
    assert checked >= 70


def test_a_results_title_names_date_commit_device_and_what_the_header_has():
    from whisper_eas.research.bench import run_header, title

    header = run_header(2, batch=6)
    line = title("The encoder", header)
    assert line.startswith(f"# The encoder ({header['date']}, commit {header['commit']}, ")
    assert line.endswith(f", 2 threads, torch {header['torch']})")
    bare = {"date": "2026-11-30", "commit": "abc1234", "device": "some CPU"}
    assert title("Cuts", bare) == "# Cuts (2026-11-30, commit abc1234, some CPU)"


def test_a_turns_benchmark_reads_its_manifest_and_writes_the_speed_up_over_the_first(tmp_path):
    from whisper_eas.research.bench import manifest_records, turns_arguments, write_turns

    lines = [{"id": f"r{i}", "audio": f"{i}.flac", "text": "x", "duration_s": 60.0 + i,
              "group": group} for i, group in enumerate(("tune", "tune", "heldout"))]  # fmt: skip
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert [r["id"] for r in manifest_records(tmp_path, 2, "alternate")] == ["r0", "r2"]
    with pytest.raises(ValueError, match="pick"):
        manifest_records(tmp_path, 2, "random")
    (tmp_path / "tune_only").mkdir()
    (tmp_path / "tune_only" / "manifest.jsonl").write_text(json.dumps(lines[0]) + "\n")
    with pytest.raises(ValueError, match="no 'tune' and 'heldout' groups"):
        manifest_records(tmp_path / "tune_only", 2, "alternate")
    records = manifest_records(tmp_path, 2)
    assert [r["id"] for r in records] == ["r0", "r1"]
    args = turns_arguments("A/B.\n\nmore", data=str(tmp_path)).parse_args(
        ["--output", str(tmp_path / "out" / "ab")]
    )
    runs = {
        name: {"texts": [], "seconds": seconds, "windows": 4, "fallbacks": {}, "wer": 0.05}
        for name, seconds in (("old", [3.0, 3.0]), ("new", [1.0, 2.0]))
    }
    write_turns(args, records, runs, "Old or new", "rule", "float32, defaults")
    written = json.loads((tmp_path / "out" / "ab.json").read_text())
    assert written["runs"]["new"]["speedup"] == 2.0 and written["runs"]["old"]["speedup"] == 1.0
    table = (tmp_path / "out" / "ab.md").read_text()
    assert table.startswith("# Old or new (") and "| new | 4 | 5.00 | 3.0 | 2.00× | {} |" in table
