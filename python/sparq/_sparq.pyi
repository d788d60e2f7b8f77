# Type stubs of the compiled module sparq._sparq (hand-written; pybind11-stubgen
# is not packaged in Debian). python/tests/test_stubs.py checks that every
# public name of the module, and every method of its classes, appears here.
from os import PathLike
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

__version__: str
__all__: list[str]

_Path = str | PathLike[str]
_Pair = tuple[int, int]
_Activation = Literal["none", "relu", "relu6"]

class Error(Exception):
    """Base of every sparq error; `kind` names sparq's error code."""
    kind: str | None

class InvalidArgumentError(Error, ValueError):
    kind: str

class InvalidModelError(Error, ValueError):
    kind: str

class UnsupportedError(Error, NotImplementedError):
    kind: str

class IoError(Error, OSError):
    kind: str

class InternalError(Error, RuntimeError):
    kind: str

class Model:
    @staticmethod
    def load(path: _Path) -> Model: ...
    @staticmethod
    def from_bytes(data: bytes) -> Model: ...
    def save(self, path: _Path) -> None: ...
    def to_bytes(self) -> bytes: ...
    def inspect(self) -> list[dict[str, Any]]: ...
    def __getstate__(self) -> bytes: ...
    def __setstate__(self, state: bytes) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def provenance(self) -> dict[str, str]: ...
    @property
    def preprocessing(self) -> dict[str, Any]: ...
    @property
    def input(self) -> dict[str, Any]: ...
    @property
    def outputs(self) -> list[dict[str, Any]]: ...

class Session:
    def __init__(
        self,
        model: Model,
        backends: list[str] = ["cpu", "reference"],
        threads: int = 0,
        batch_chunk: int = 0,
        fold_static_quantize: bool = True,
        fold_residual_add: bool = True,
        fold_max_pool: bool = True,
    ) -> None: ...
    @overload
    def run(
        self,
        input: npt.NDArray[np.float32],
        *,
        stats: Literal[False] = False,
        check_finite: bool = True,
    ) -> list[np.ndarray]: ...
    @overload
    def run(
        self, input: npt.NDArray[np.float32], *, stats: Literal[True], check_finite: bool = True
    ) -> tuple[list[np.ndarray], dict[str, Any]]: ...
    @property
    def threads(self) -> int: ...
    def batch_chunk(self, batch: int) -> int: ...
    @property
    def placements(self) -> list[dict[str, str]]: ...
    def planned_bytes(self, batch: int) -> int: ...

class SparseConv3x3:
    @property
    def stride(self) -> int: ...
    @property
    def density(self) -> int: ...
    @property
    def out_channels(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def sharing(self) -> _Pair: ...
    @property
    def activation(self) -> str: ...
    @property
    def taps(self) -> npt.NDArray[np.uint8]: ...
    @property
    def weight_scales(self) -> npt.NDArray[np.float32]: ...
    @property
    def bias(self) -> npt.NDArray[np.float32]: ...
    @property
    def output_quantization(self) -> tuple[float, int, bool] | None: ...

class ModelBuilder:
    def __init__(self) -> None: ...
    def input(self, shape: list[int], dtype: str = "f32", name: str = "input") -> int: ...
    def quantize(
        self, x: int, bits: int = 8, signed: bool = False, name: str = "", scale: float = 0.0
    ) -> int: ...
    def dequantize(self, x: int, name: str = "") -> int: ...
    def conv2d(
        self,
        x: int,
        weights: np.ndarray,
        bias: npt.NDArray[np.float32] | None = None,
        *,
        stride: _Pair = (1, 1),
        padding: _Pair = (0, 0),
        groups: int = 1,
        activation: _Activation = "none",
        weight_scales: npt.NDArray[np.float32] | None = None,
        name: str = "",
    ) -> int: ...
    def sparse_conv3x3(self, x: int, layer: SparseConv3x3, name: str = "") -> int: ...
    def fully_connected(
        self,
        x: int,
        weights: np.ndarray,
        bias: npt.NDArray[np.float32] | None = None,
        *,
        activation: _Activation = "none",
        weight_scales: npt.NDArray[np.float32] | None = None,
        name: str = "",
    ) -> int: ...
    def pool2d(
        self,
        x: int,
        kind: Literal["max", "average"] = "max",
        *,
        kernel: _Pair = (2, 2),
        stride: _Pair = (2, 2),
        padding: _Pair = (0, 0),
        name: str = "",
    ) -> int: ...
    def global_avg_pool(self, x: int, name: str = "") -> int: ...
    def add(self, a: int, b: int, activation: _Activation = "none", name: str = "") -> int: ...
    def activation(self, x: int, activation: _Activation, name: str = "") -> int: ...
    def flatten(self, x: int, name: str = "") -> int: ...
    def softmax(self, x: int, name: str = "") -> int: ...
    def mark_output(self, x: int) -> None: ...
    def value(self, x: int) -> dict[str, Any]: ...
    def build(
        self,
        *,
        name: str = "",
        labels: list[str] = [],
        preprocessing: dict[str, Any] = {},
        provenance: dict[str, str] = {},
    ) -> Model: ...

def prune_to_density(
    weights: npt.NDArray[np.float32],
    density: int,
    mask: npt.NDArray[np.uint8] | None = None,
    sharing: _Pair = (1, 1),
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]: ...
def prune_round(
    weights: npt.NDArray[np.float32],
    mask: npt.NDArray[np.uint8] | None = None,
    sharing: _Pair = (1, 1),
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]: ...
def mask_density(mask: npt.NDArray[np.uint8]) -> int: ...
def mask_respects_sharing(mask: npt.NDArray[np.uint8], sharing: _Pair) -> bool: ...
def quantize_weights(
    weights: npt.NDArray[np.float32], bits: int = 4
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]: ...
def fold_batchnorm(
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None,
    gamma: npt.NDArray[np.float32],
    beta: npt.NDArray[np.float32],
    mean: npt.NDArray[np.float32],
    var: npt.NDArray[np.float32],
    eps: float = 1e-5,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
def pack_taps(
    values: npt.NDArray[np.int8], mask: npt.NDArray[np.uint8], density: int
) -> npt.NDArray[np.uint8]: ...
def unpack_taps(
    taps: npt.NDArray[np.uint8], out_channels: int, in_channels: int, density: int
) -> npt.NDArray[np.int8]: ...
def make_sparse_conv3x3(
    weights: npt.NDArray[np.float32],
    mask: npt.NDArray[np.uint8],
    bias: npt.NDArray[np.float32] | None = None,
    *,
    density: int | None = None,
    stride: int = 1,
    sharing: _Pair = (1, 1),
    activation: _Activation = "none",
) -> SparseConv3x3: ...
def import_onnx(
    path: _Path,
    *,
    quantize: Literal["none", "w4a8", "w4a4"] = "none",
    name: str = "",
    labels: list[str] = ...,
    scale: float = ...,
    mean: list[float] = ...,
    std: list[float] = ...,
) -> tuple[Model, list[dict[str, Any]]]: ...
def simulate(
    model: Model,
    config: dict[str, Any] | _Path | None = None,
    *,
    batch: int = 1,
    mode: Literal["analytic", "cycle"] = "analytic",
    point: str | None = None,
    volts: float | None = None,
) -> dict[str, Any]: ...
def device_config(
    config: dict[str, Any] | _Path | None = None,
    *,
    point: str | None = None,
    volts: float | None = None,
) -> dict[str, Any]: ...
def read_idx_images(path: _Path) -> npt.NDArray[np.uint8]: ...
def read_idx_labels(path: _Path) -> npt.NDArray[np.uint8]: ...
def load_image(path: _Path) -> npt.NDArray[np.uint8]: ...
def preprocess(model: Model, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...
