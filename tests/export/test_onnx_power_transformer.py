import numpy as np
import pytest

pytest.importorskip("skl2onnx")


@pytest.mark.parametrize("standardize", [True, False])
def test_float64_power_transformer_matches_sklearn(standardize):
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.preprocessing import PowerTransformer

    from audioconcept.export.onnx_power_transformer import register

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.lognormal(0, 1, 300), rng.normal(0, 3, 300), -rng.lognormal(0, 1, 300), rng.random(300)])
    pt = PowerTransformer(standardize=standardize).fit(X)
    pt.lambdas_[3] = 0.0  # the log branch for x >= 0
    pt.lambdas_[2] = 2.0  # the log branch for x < 0
    register()
    onx = convert_sklearn(pt, initial_types=[("x", DoubleTensorType([None, 4]))], target_opset=18)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    Xt = np.concatenate([X, rng.normal(0, 5, (50, 4))])
    (got,) = sess.run(None, {"x": Xt})
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, pt.transform(Xt), rtol=1e-10, atol=1e-12)
