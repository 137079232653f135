import numpy as np
import pytest

from audioconcept.data.features_csv import FEATURE_NAMES, read_features_csv
from audioconcept.errors import DataSpecError


def _write(path, delim=";", bom=True, rows=3, bad=None):
    header = ["filename", "length", *FEATURE_NAMES, "label"]
    lines = [delim.join(header)]
    for i in range(rows):
        vals = [f"blues.{i:05d}.wav", "661794", *[str(i + j / 100) for j in range(57)], "blues" if i % 2 else "jazz"]
        if bad is not None and i == 1:
            vals[5] = bad
        lines.append(delim.join(vals))
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("delim,bom", [(";", True), (",", False), (",", True)])
def test_reads_kaggle_format(tmp_path, delim, bom):
    t = read_features_csv(_write(tmp_path / "f.csv", delim, bom))
    assert t.X.shape == (3, 57)
    assert t.X[2, 0] == pytest.approx(2.0) and t.X[2, 56] == pytest.approx(2.56)
    assert list(t.labels) == ["jazz", "blues", "jazz"]
    assert t.filenames[0] == "blues.00000.wav"
    assert np.all(t.lengths == 661794)


def test_errors(tmp_path):
    with pytest.raises(DataSpecError, match="non-numeric"):
        read_features_csv(_write(tmp_path / "b.csv", bad="abc"))
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataSpecError, match="empty"):
        read_features_csv(tmp_path / "e.csv")
    (tmp_path / "m.csv").write_text("filename;label\na;b\n")
    with pytest.raises(DataSpecError, match="missing columns"):
        read_features_csv(tmp_path / "m.csv")


def test_real_table_shape():
    from pathlib import Path

    p = Path(__file__).parents[3] / "shared" / "gtzan" / "features_30_sec.csv"
    if not p.exists():
        pytest.skip("../shared/gtzan/features_30_sec.csv not present")
    t = read_features_csv(p)
    assert t.X.shape == (1000, 57) and len(set(t.labels)) == 10
