import subprocess
import sys

from conftest import ROOT

from cmoe.cli import build_parser, main


def test_help_lists_every_stage():
    text = build_parser().format_help()
    for stage in (
        "prepare-data",
        "make-tiny-model",
        "generate",
        "filter",
        "train",
        "evaluate",
        "table",
        "check",
        "route",
        "mixture",
        "evaluate-loglik",
        "plots",
        "compare",
    ):
        assert stage in text


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "cmoe", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Cascade mixture-of-experts" in proc.stdout


def test_check_command(capsys, tmp_path):
    assert main(["check", str(ROOT / "config" / "demo_rummlu.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: {file: x}}\n")
    assert main(["check", str(bad)]) == 2
    assert "missing required config key prompt" in capsys.readouterr().err


def test_bad_json_argument_is_rejected(capsys):
    try:
        main(["filter", "--raw", "a", "--out", "b", "--stats", "c", "--max-length", "x"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_bad_settings_value_is_one_line_naming_the_key(capsys):
    argv = ["train", "--model", "m", "--data", "d", "--out", "o", "--prompt", "{}"]
    for settings, message in [
        ('{"lr_scheduler": 3}', "training.lr_scheduler: expected str, got int 3"),
        ('{"lora": {"rank": 8}}', "unknown key training.lora.rank"),
        ('{"epochs": "two"}', "training.epochs: expected float"),
        ("[1]", "expected a JSON object"),
    ]:
        try:
            main([*argv, "--settings", settings])
        except SystemExit as exc:
            assert exc.code == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
