"""The musicnn wheel and our conversion of it, once per session.

The wheel (29 MB, ISC licence) comes from the cache that `import-pretrained` uses
(AUDIOCONCEPT_CACHE or ~/.cache/audioconcept, under wheels/), else `pip download`; the tests that
need it skip, with the reason, when neither works (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_CLIPS = Path(__file__).resolve().parents[3] / "shared" / "gtzan" / "clips"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "musicnn_reference.npz"


@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    from audioconcept.errors import AudioConceptError
    from audioconcept.models.pretrained import find_wheel

    try:
        return find_wheel()
    except AudioConceptError as e:
        pytest.skip(f"the musicnn 0.1.0 wheel is not available: {e}")


@pytest.fixture(scope="session")
def musicnn_checkpoints(tmp_path_factory, musicnn_wheel) -> Path:
    """MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg and MSD_MTT_musicnn, converted (about 3 s)."""
    from audioconcept.models.pretrained import import_musicnn

    root = tmp_path_factory.mktemp("pretrained")
    import_musicnn(root, musicnn_wheel)
    return root


@pytest.fixture(scope="session")
def musicnn_reference():
    import numpy as np

    return np.load(FIXTURE)


@pytest.fixture(scope="session")
def shared_clips_dir() -> Path:
    """The folder of the real GTZAN clips in ../shared (see tests/conftest.py's `shared_clips` for the list)."""
    if not SHARED_CLIPS.is_dir():
        pytest.skip("../shared/gtzan/clips is not present")
    return SHARED_CLIPS
