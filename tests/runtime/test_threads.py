"""Thread plan and the threaded numpy front end."""

from __future__ import annotations

import numpy as np

from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.threads import plan_threads, usable_cores


def test_plan(monkeypatch):
    monkeypatch.delenv("AUDIOCONCEPT_ORT_SPIN", raising=False)
    p = plan_threads(0, numpy_frontend=True)
    assert p.intra_op == usable_cores() and p.frontend == min(usable_cores(), 8) and not p.spinning
    assert plan_threads(3, numpy_frontend=False) == type(p)(3, 1, True)
    monkeypatch.setenv("AUDIOCONCEPT_ORT_SPIN", "1")
    assert plan_threads(2, numpy_frontend=True).spinning


def test_blocks_give_the_same_mel():
    from audioconcept.models.frontend_config import MelConfig

    cfg = MelConfig().to_dict()
    x = (np.random.default_rng(0).standard_normal((3, 22050 * 9)) * 0.1).astype(np.float32)
    one = NumpyMelFrontEnd(cfg)(x)
    # the same up to float32 rounding: BLAS may take another kernel for a block's shape (CI's CPU did, 2.9e-6 dB)
    for threads in (2, 3, 7):
        np.testing.assert_allclose(NumpyMelFrontEnd(cfg, threads)(x), one, rtol=0, atol=1e-4)


def test_front_end_runs_blas_single_threaded_and_restores_it(monkeypatch):
    """BLAS threads would fight the front end's blocks and onnxruntime's threads for the cores."""
    from threadpoolctl import threadpool_info

    import audioconcept.runtime.frontend as fe_mod
    from audioconcept.models.frontend_config import MelConfig

    # numpy's own BLAS: another library's (scipy's, loaded by an earlier test) runs no numpy matmul
    numpy_blas = {lib.filepath for lib in fe_mod._blas_controller().lib_controllers if lib.user_api == "blas"}
    assert numpy_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["filepath"] in numpy_blas]

    before = blas_threads()
    seen = []
    real = np.matmul

    def spy(*a, **k):
        seen.extend(blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(fe_mod.np, "matmul", spy)
    x = (np.random.default_rng(0).standard_normal((1, 22050 * 3)) * 0.1).astype(np.float32)
    NumpyMelFrontEnd(MelConfig().to_dict())(x)
    monkeypatch.undo()
    assert seen and set(seen) == {1}
    assert blas_threads() == before
