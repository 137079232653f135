"""skl2onnx converter for scikit-learn's PowerTransformer (Yeo-Johnson) that keeps the input's
float type. skl2onnx 1.20's own converter casts masks to float32 and declares a float32 output,
so a float64 graph (the SVM bundle's `features` input) fails to convert."""

from __future__ import annotations

import numpy as np


def _shape(operator) -> None:
    t = operator.inputs[0].type
    operator.outputs[0].type = type(t)(t.shape)


def _convert(scope, operator, container) -> None:
    from skl2onnx.algebra.onnx_ops import (
        OnnxAdd,
        OnnxDiv,
        OnnxIdentity,
        OnnxLess,
        OnnxLog,
        OnnxNeg,
        OnnxPow,
        OnnxSub,
        OnnxWhere,
    )
    from skl2onnx.common.data_types import guess_numpy_type

    op = operator.raw_operator
    if op.method != "yeo-johnson":
        raise NotImplementedError(f"PowerTransformer(method={op.method!r}) has no converter here")
    opv = container.target_opset
    dtype = np.float64 if guess_numpy_type(operator.inputs[0].type) == np.float64 else np.float32
    x = operator.inputs[0]
    lam = op.lambdas_.astype(np.float64)
    eps = np.finfo(np.float64).eps
    one = np.array([1.0], dtype)
    # scipy.stats.yeojohnson: x >= 0 -> ((x + 1)**l - 1) / l, or log(x + 1) when l == 0;
    # x < 0 -> -((1 - x)**(2 - l) - 1) / (2 - l), or -log(1 - x) when l == 2
    lp = np.where(np.abs(lam) < eps, 1.0, lam).astype(dtype)
    up = OnnxAdd(x, one, op_version=opv)
    pos = OnnxDiv(OnnxSub(OnnxPow(up, lp, op_version=opv), one, op_version=opv), lp, op_version=opv)
    if (np.abs(lam) < eps).any():
        pos = OnnxWhere(np.abs(lam) < eps, OnnxLog(up, op_version=opv), pos, op_version=opv)
    ln = np.where(np.abs(lam - 2) > eps, 2 - lam, 1.0).astype(dtype)
    down = OnnxSub(one, x, op_version=opv)
    neg = OnnxNeg(
        OnnxDiv(OnnxSub(OnnxPow(down, ln, op_version=opv), one, op_version=opv), ln, op_version=opv),
        op_version=opv,
    )
    if (np.abs(lam - 2) <= eps).any():
        neg = OnnxWhere(np.abs(lam - 2) <= eps, OnnxNeg(OnnxLog(down, op_version=opv), op_version=opv), neg)
    y = OnnxWhere(OnnxLess(x, np.array([0.0], dtype), op_version=opv), neg, pos, op_version=opv)
    out = operator.outputs[0].full_name
    if op.standardize:
        centred = OnnxSub(y, op._scaler.mean_.astype(dtype), op_version=opv)
        final = OnnxDiv(centred, op._scaler.scale_.astype(dtype), op_version=opv, output_names=[out])
    else:
        final = OnnxIdentity(y, op_version=opv, output_names=[out])
    final.add_to(scope, container)


def register() -> None:
    """Replace skl2onnx's PowerTransformer converter with this one (idempotent)."""
    from skl2onnx import update_registered_converter
    from sklearn.preprocessing import PowerTransformer

    update_registered_converter(PowerTransformer, "SklearnPowerTransformer", _shape, _convert, overwrite=True)
