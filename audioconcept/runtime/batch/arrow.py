"""The one door to pyarrow (it comes with the `ray` extra, as does Ray itself).

The rest of the batch code asks here instead of importing pyarrow, so a base install never imports
it and gets a one-line `MissingExtra` error naming the extra; this module and `ray_engine` are the
only runtime modules that reach pyarrow or Ray.
"""

from __future__ import annotations

from types import ModuleType

from audioconcept.errors import MissingExtra

PURPOSE = "audioconcept batch (Parquet output)"


def require_pyarrow(purpose: str = PURPOSE) -> ModuleType:
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingExtra("pyarrow", "ray", purpose) from None
    return pyarrow


def parquet(purpose: str = PURPOSE) -> ModuleType:
    return require_pyarrow(purpose).parquet


def compute(purpose: str = PURPOSE) -> ModuleType:
    return require_pyarrow(purpose).compute
