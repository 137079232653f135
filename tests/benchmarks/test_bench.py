import json

import numpy as np
import pytest

from audioconcept.benchmarks.flops import onnx_flops
from audioconcept.benchmarks.harness import BenchConfig, check_agreement, load_results, run_bench, stats
from audioconcept.benchmarks.report import merge, write_report
from audioconcept.errors import AudioConceptError


def test_stats():
    s = stats([0.001] * 10 + [0.002] * 10)
    assert s["p50_ms"] == pytest.approx(1.5) and s["n"] == 20
    assert s["p95_ms"] == pytest.approx(2.0) and s["noisy"] is True
    assert stats([0.001] * 20)["noisy"] is False


def test_flops_of_a_known_graph(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((8, 4), np.float32), "w")
    k = numpy_helper.from_array(np.zeros((16, 1, 3, 3), np.float32), "k")
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["y"]),
            helper.make_node("Conv", ["img", "k"], ["z"], pads=[1, 1, 1, 1]),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8]),
            helper.make_tensor_value_info("img", TensorProto.FLOAT, ["batch", 1, 10, 10]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        [w, k],
    )
    p = tmp_path / "g.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(p))
    assert onnx_flops(p) == 2 * 8 * 4 + 2 * (16 * 10 * 10) * 9


@pytest.mark.slow
def test_harness_schema_merge_and_plots(tmp_path, cnn_bundle, monkeypatch):
    cfg = BenchConfig(
        (cnn_bundle,),
        backends=("onnx", "torchscript"),
        threads=(1,),
        batches=(1, 2),
        warmup=1,
        repeats=3,
        eval_windows=4,
        out=tmp_path / "a.json",
    )
    res = run_bench(cfg)
    assert res["host"]["cores"] >= 1 and res["host"]["peak_gflops_fp32"] > 0
    rows = [r for r in res["rows"] if "p50_ms" in r and r["backend"] == "onnx"]
    assert {r["batch"] for r in rows} == {1, 2}
    r = rows[0]
    for key in (
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "iqr_ms",
        "clips_per_s",
        "x_realtime",
        "load_s",
        "accuracy",
        "top1_agreement",
        "max_abs_dlogit",
        "gflops_per_clip",
        "fraction_of_peak",
        "status",
    ):
        assert key in r, key
    assert r["status"] == "validated" and r["top1_agreement"] == 1.0
    assert 10 < r["peak_rss_mb"] < 2000 and r["cold_start_s"] > 0
    assert any(x["backend"] == "baseline-eager-pickle" for x in res["rows"])
    assert any(x["status"] == "unavailable" and "CUDA" in x["reason"] for x in res["rows"] if x["backend"] == "onnx")
    assert check_agreement(res, 0.5) == [] and check_agreement(res, 1.01)
    # a second host: same rows, other numbers
    other = json.loads((tmp_path / "a.json").read_text())
    other["host"]["hostname"] = "mac-mini"
    other["host"]["cpu"] = "Apple M2"
    for row in other["rows"]:
        if "p50_ms" in row:
            row["p50_ms"] *= 0.5
    (tmp_path / "b.json").write_text(json.dumps(other))
    merged = merge(load_results([tmp_path / "a.json", tmp_path / "b.json"]))
    key = next(k for k in merged["cnn"] if k[0] == "onnx")
    assert len(merged["cnn"][key]) == 2
    out = write_report([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "REPORT.md")
    text = out.read_text()
    assert "mac-mini" in text and "## cnn" in text
    assert (tmp_path / "REPORT_latency.png").exists() and (tmp_path / "REPORT_speedup.png").exists()


def test_results_file_validation(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(AudioConceptError):
        load_results([tmp_path / "x.json"])


@pytest.mark.slow
def test_svm_feature_row_times_numpy_against_librosa_in_one_process(tmp_path, wav_file):
    from audioconcept.benchmarks.harness import feature_ms, feature_row

    pytest.importorskip("librosa")
    feats = feature_ms(wav_file(3.0), 30.0, repeats=2)
    assert feats["numpy"]["n"] == 2 and feats["librosa"]["n"] == 2
    row = feature_row({"name": "svm-x"}, feats)
    assert row["backend"] == "features-numpy" and row["batch"] == 1 and row["p50_ms"] > 0
    assert row["speedup_vs_librosa"] == pytest.approx(feats["librosa"]["p50_ms"] / feats["numpy"]["p50_ms"])
    assert "librosa path" in row["reason"]
    assert feature_row({"name": "svm-x"}, {"numpy": None, "librosa": None}) is None
