"""Load scikit-learn models without executing code: an allowlist unpickler.

A pickle can call any importable function while it loads (`os.system` in a `__reduce__`), so
nothing here calls `pickle.load`, `joblib.load` or `torch.load(weights_only=False)` on a file.
Every global that a file references is looked up in `TRUSTED_TYPES`, the one table of what may
be rebuilt (scikit-learn estimators, numpy arrays and dtypes, a few builtins); anything else is
refused with a one-line `UnsafePickleError` before it is imported.

To allow a new estimator (say the SVM pipeline gains a PCA step): add its defining module and
class name to `TRUSTED_TYPES` (`type(obj).__module__`, `type(obj).__qualname__`). `dumps` loads
what it wrote back through the same unpickler, so a pipeline with an unlisted step fails when it
is saved, naming the class, never later when it is loaded.
"""

from __future__ import annotations

import collections
import copyreg
import io
import logging
import pickle
from pathlib import Path
from typing import Any

from audioconcept.errors import CheckpointError, UnsafePickleError

log = logging.getLogger(__name__)

PROTOCOL = 5

# module -> names that may be rebuilt. Keep it to data-holding classes and pure functions: every
# entry can be called by a file with arguments the file chooses.
TRUSTED_TYPES: dict[str, tuple[str, ...]] = {
    # scikit-learn: the SVM pipeline and what it may grow (calibration, feature selection)
    "sklearn.pipeline": ("Pipeline",),
    "sklearn.preprocessing._data": (
        "StandardScaler",
        "MinMaxScaler",
        "RobustScaler",
        "MaxAbsScaler",
        "PowerTransformer",
    ),
    "sklearn.preprocessing._label": ("LabelEncoder",),
    "sklearn.svm._classes": ("SVC", "LinearSVC", "NuSVC"),
    "sklearn.calibration": ("CalibratedClassifierCV", "_CalibratedClassifier", "_SigmoidCalibration"),
    "sklearn.isotonic": ("IsotonicRegression",),
    "sklearn.frozen._frozen": ("FrozenEstimator",),
    "sklearn.feature_selection._univariate_selection": ("SelectKBest", "SelectPercentile", "f_classif"),
    "sklearn.feature_selection._variance_threshold": ("VarianceThreshold",),
    "sklearn.model_selection._split": ("StratifiedKFold", "KFold"),
    "sklearn.linear_model._logistic": ("LogisticRegression",),
    # numpy arrays, scalars and dtypes (numpy 1.x and 2.x module names)
    "numpy": ("ndarray", "dtype"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
    "numpy.core.numeric": ("_frombuffer",),
    "numpy._core.numeric": ("_frombuffer",),
    "numpy.dtypes": (
        "BoolDType",
        "Int8DType",
        "Int16DType",
        "Int32DType",
        "Int64DType",
        "UInt8DType",
        "UInt16DType",
        "UInt32DType",
        "UInt64DType",
        "Float16DType",
        "Float32DType",
        "Float64DType",
        "StrDType",
        "BytesDType",
        "ObjectDType",
    ),
    "numpy.random._pickle": ("__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"),
    "numpy.random._mt19937": ("MT19937",),
    "numpy.random._pcg64": ("PCG64",),
    # builtins that plain pickles of the above use
    "builtins": ("set", "frozenset", "slice", "object", "bytearray", "complex"),
    "collections": ("OrderedDict",),
    "copyreg": ("_reconstructor",),
    "_codecs": ("encode",),  # protocol-2 pickles spell bytes as encode(str, 'latin1')
}

# joblib's own array records, for reading checkpoints written before this format (never the older
# NDArrayWrapper, which names a second file to open)
JOBLIB_TYPES: dict[str, tuple[str, ...]] = {"joblib.numpy_pickle": ("NumpyArrayWrapper",)}

_BUILTINS = {"set": set, "frozenset": frozenset, "slice": slice, "object": object, "bytearray": bytearray}


def is_trusted(module: str, name: str, table: dict[str, tuple[str, ...]] = TRUSTED_TYPES) -> bool:
    return name in table.get(module, ())


def resolve_trusted(module: str, name: str, table: dict[str, tuple[str, ...]] = TRUSTED_TYPES) -> Any:
    """The object a pickle's GLOBAL names, or UnsafePickleError before anything is imported."""
    if not is_trusted(module, name, table):
        raise UnsafePickleError(
            f"refused to load: the file references {module}.{name}, which is not on the allowlist "
            "(audioconcept.models.safe_pickle.TRUSTED_TYPES)"
        )
    if module == "builtins" and name in _BUILTINS:
        return _BUILTINS[name]
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if (module, name) == ("copyreg", "_reconstructor"):
        return copyreg._reconstructor
    mod = __import__(module, fromlist=[name])
    return getattr(mod, name)


class AllowlistUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose every global goes through `resolve_trusted`."""

    table: dict[str, tuple[str, ...]] = TRUSTED_TYPES

    def find_class(self, module: str, name: str) -> Any:
        return resolve_trusted(module, name, self.table)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused to load: the file uses persistent ids")


_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    AttributeError,
    ImportError,
    TypeError,
    ValueError,
    IndexError,
    KeyError,
    RecursionError,
    MemoryError,
    OverflowError,
)


def loads(data: bytes, where: str = "pickle") -> Any:
    try:
        return AllowlistUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{where}: {e}") from None
    except _READ_ERRORS as e:
        raise CheckpointError(f"{where}: not a readable pickle ({type(e).__name__}: {_first_line(e)})") from None


def load(path: str | Path) -> Any:
    return loads(Path(path).read_bytes(), str(path))


def dumps(obj: Any) -> bytes:
    """Pickle `obj` and prove that `loads` reads it back (so a step missing from the table is
    reported now, when the model is saved)."""
    data = pickle.dumps(obj, protocol=PROTOCOL)
    try:
        loads(data)
    except UnsafePickleError as e:
        raise CheckpointError(
            f"cannot save this model in the safe format: {str(e).removeprefix('pickle: ')}; "
            "add the class to TRUSTED_TYPES if it only holds data"
        ) from None
    return data


def load_joblib(path: str | Path) -> Any:
    """Read an uncompressed joblib file through the same allowlist (plus joblib's array records)."""
    try:
        from joblib.numpy_pickle import NumpyUnpickler
    except ImportError:
        from audioconcept.errors import MissingExtra

        raise MissingExtra("joblib", "train", "reading a joblib file") from None

    table = {**TRUSTED_TYPES, **JOBLIB_TYPES}

    class _Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            return resolve_trusted(module, name, table)

        def persistent_load(self, pid: Any) -> Any:
            raise UnsafePickleError("refused to load: the file uses persistent ids")

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if head[:1] != b"\x80":
            raise CheckpointError(f"{path}: a compressed or unknown joblib file; only uncompressed ones can be read")
        f.seek(0)
        try:
            return _Restricted(str(path), f, ensure_native_byte_order=True).load()
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{path}: {e}") from None
        except _READ_ERRORS as e:
            why = f"{type(e).__name__}: {_first_line(e)}"
            raise CheckpointError(f"{path}: not a readable joblib file ({why})") from None


def _first_line(e: BaseException) -> str:
    s = str(e)
    return s.splitlines()[0][:200] if s else type(e).__name__
