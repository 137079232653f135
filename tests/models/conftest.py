"""The musicnn fixtures live in tests/conftest.py (the export, runtime and train tests use them too)."""

from tests.conftest import MUSICNN_FIXTURE as FIXTURE
from tests.conftest import SHARED_CLIPS

__all__ = ["FIXTURE", "SHARED_CLIPS"]
