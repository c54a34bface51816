import json

from conftest import DATA

from whisper_eas.cli import main


def test_transcribe_json(capsys):
    clips = [str(DATA / "jfk.flac"), str(DATA / "1272-128104-0000.mp3")]
    assert main(["transcribe", *clips, "--output-format", "json", "--eas-layer", "2", "--eas-sparsity", "0.5"]) == 0
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
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--eas-layer", "9", "--eas-sparsity", "0.5"], capsys)
    assert code == 2 and "EAS layer 9 is out of range" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--eas-layer", "2"], capsys)
    assert code == 2 and "both --eas-layer and --eas-sparsity" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--model", "gigantic"], capsys)
    assert code == 2 and "unknown model 'gigantic'" in err
    code, err = run_error(["transcribe", str(DATA / "jfk.flac"), "--dtype", "float64"], capsys)
    assert code == 2 and "unsupported dtype" in err
    code, err = run_error(["convert", str(tmp_path), str(tmp_path / "out")], capsys)
    assert code == 2 and "no Whisper weights" in err
