"""The command line: help from the formats table, one-line errors with exit code 2, and the bench on
bundles whose training data is not at hand."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audioconcept.runtime.formats import BACKENDS, EXPORT_FLAGS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from audioconcept.cli import main; main()", *args], capture_output=True, text=True
    )


def run_fast(*args: str) -> subprocess.CompletedProcess:
    """`audioconcept-run`: the argparse entry point."""
    return subprocess.run(
        [sys.executable, "-c", "from audioconcept.cli_run import main; main()", *args], capture_output=True, text=True
    )


def test_help_lists_the_table():
    out = run_cli("run", "--help").stdout
    assert all(b in out for b in BACKENDS)
    out = run_cli("export", "--help").stdout
    flat = out.replace("\n", "").replace(" ", "").replace("│", "")
    assert ",".join(EXPORT_FLAGS) in flat
    assert "excepttorchscript:deprecatedupstream,usept2orexecutorch" in flat and "--torchscript" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "song.wav", "--backend", "tflite"], "unknown backend 'tflite'"),
        (["run", "song.wav", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "song.wav", "--backend", "onnx-int8", "--device", "cuda"], "runs on cpu, not cuda"),
        (["run", "song.wav", "--model", "no-such-bundle"], "--model no-such-bundle: no bundle there"),
        (["run", "song.wav", "--attribution", "shap"], "choose ig or gxi"),
        (["run", "song.wav", "--hop", "-1"], "--hop: a hop of -1 s is out of range"),
        (["run", "song.wav", "--format", "xml"], "choose table, json or csv"),
        (["export", "no/such/checkpoint"], "not a checkpoint"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    for r in (run_cli(*args), run_fast(*args[1:])) if args[0] == "run" else (run_cli(*args),):
        assert r.returncode == 2, r.stderr
        assert message in r.stderr
        assert "Traceback" not in r.stderr


def test_both_run_entry_points_take_the_same_options():
    import re

    from audioconcept.cli_run import parser

    fast = {o for a in parser()._actions for o in a.option_strings} - {"-h", "--help", "--debug", "-v", "--verbose"}
    typer_help = run_cli("run", "--help").stdout
    assert fast == set(re.findall(r"(--[a-z][a-z-]+)", typer_help)) - {"--help", "--no-explain"}


def test_fast_entry_point_does_not_import_typer(tmp_path):
    code = (
        "import sys; from audioconcept.cli_run import main\n"
        "try:\n main(['--help'])\nexcept SystemExit: pass\n"
        "assert 'typer' not in sys.modules and 'pydantic' not in sys.modules, sorted(sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_missing_song_is_an_error_line_not_a_traceback(tmp_path):
    r = run_cli("run", str(tmp_path / "missing.wav"), "--model", "cnn-synth", "--format", "json")
    assert r.returncode == 2 and "missing.wav" in r.stderr and "Traceback" not in r.stderr


def test_bench_times_a_packaged_bundle_without_data_and_keeps_rows_of_others(tmp_path, caplog):
    """A packaged bundle's trained_on is a description, not a data spec: it is timed on the bench song
    without accuracy. A broken bundle becomes an error row, and the rows of the others stay."""
    from audioconcept.benchmarks.harness import BenchConfig, run_bench
    from audioconcept.runtime.registry import packaged_bundles

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    out = tmp_path / "res.json"
    cfg = BenchConfig(
        (broken, packaged_bundles()["cnn-synth"]),
        ("onnx",),
        (1,),
        (1,),
        warmup=1,
        repeats=2,
        eval_windows=2,
        cold_start=False,
        out=out,
    )
    res = run_bench(cfg)
    rows = res["rows"]
    assert rows[0]["status"] == "error" and "manifest" in rows[0]["reason"]
    timed = [r for r in rows if r.get("model") == "cnn-synth" and "p50_ms" in r]
    assert timed and "accuracy" not in timed[0] and timed[0]["eval_data"].startswith("unlabelled")
    # the description is named as such: the user passed no --data, so nothing says "bad --data", and nothing warns
    assert "it was trained on AudioConcept synthetic genres" in timed[0]["eval_data"]
    assert "top1_agreement" not in timed[0]  # its source checkpoint is not shipped: no eager model to agree with
    assert "bad --data" not in caplog.text and not [
        r for r in caplog.records if "without accuracy" in r.getMessage() and r.levelname == "WARNING"
    ]
    assert json.loads(out.read_text())["rows"] == rows


def _fake_export(monkeypatch, fail: bool = False):
    """`audioconcept export` whose exporter logs like onnxruntime's quantizer (root logger, INFO, per weight),
    warns like a converter, and says one line of its own."""
    import json
    import logging
    import warnings
    from types import SimpleNamespace

    import audioconcept.export.exporter as exporter
    import audioconcept.models.checkpoint as checkpoint
    from audioconcept.errors import ExportError

    def export_checkpoint(cfg):
        for i in range(500):
            logging.info(
                "Increased scale[%d] for weight `w` by ratio 1.5 to ensure bias input `b` has a valid scale.", i
            )
        logging.getLogger("onnxscript").warning("a converter's warning")
        warnings.warn("a converter's UserWarning", UserWarning, stacklevel=1)
        logging.getLogger("audioconcept.export.exporter").info("int8: kept, top-1 agreement 1.00")
        if fail:
            raise ExportError("parity gate failed")
        cfg.out.mkdir(parents=True)
        (cfg.out / "manifest.json").write_text(json.dumps({"arch": "svm", "parity": {}}))
        return cfg.out

    monkeypatch.setattr(checkpoint, "read_config", lambda p: SimpleNamespace(arch="svm"))
    monkeypatch.setattr(exporter, "export_checkpoint", export_checkpoint)


def test_export_keeps_library_chatter_in_a_log_file(tmp_path, monkeypatch, capsys):
    from audioconcept.cli import main

    _fake_export(monkeypatch)
    out = tmp_path / "bundle"
    main(["export", str(tmp_path / "ck"), "--out", str(out)])
    err = capsys.readouterr().err
    assert "Increased scale" not in err and "converter's" not in err
    assert "int8: kept" in err and "full log:" in err
    assert len(err.splitlines()) < 20
    assert (out / "export.log").stat().st_mode & 0o044  # readable like the rest of the bundle
    logged = (out / "export.log").read_text()
    assert logged.count("Increased scale") == 500 and "a converter's warning" in logged and "UserWarning" in logged


def test_a_failed_export_leaves_its_log_beside_the_folder(tmp_path, monkeypatch, capsys):
    from audioconcept.cli import main

    _fake_export(monkeypatch, fail=True)
    out = tmp_path / "bundle"
    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path / "ck"), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "parity gate failed" in err and "Increased scale" not in err
    assert not out.exists() and "Increased scale" in (tmp_path / "bundle.export.log").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.export.log"]
