"""Data the chapters train on.

scikit-learn's 8x8 digits ship inside the package, so the book never downloads anything. The IDX
reader is the real thing for MNIST-style files a reader has on disk; the tests exercise it on
small files they write themselves.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from coursekit.device import device as default_device


@dataclass(frozen=True)
class DigitsSplit:
    """The digits, split once and normalized with statistics of the training part only.

    ``x_*``: (N, 64) floats, one flattened 8x8 image per row (batch-first, row-vector data);
    ``y_*``: (N,) int64 labels in 0..9; ``mean`` and ``std``: the scalars used to normalize.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: float
    std: float

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalization and reshape rows ``(N, 64)`` to images ``(N, 8, 8)`` in [0, 1]."""
        return (x * self.std + self.mean).reshape(-1, 8, 8)


def load_digits_split(
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> DigitsSplit:
    """scikit-learn's 1,797 digits as tensors, with a fixed train/validation split.

    Pixels are scaled from 0..16 to [0, 1], then standardized with the training mean and standard
    deviation (one scalar each, so no pixel is divided by a zero spread). The split is a seeded
    permutation: the same ``seed`` gives the same split on every machine.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0  # (1797, 64)
    y = np.asarray(bunch.target, dtype=np.int64)  # (1797,)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(val_fraction * len(x)))
    val, train = order[:n_val], order[n_val:]
    mean, std = float(x[train].mean()), float(x[train].std())
    dev = default_device() if device is None else torch.device(device)

    def to_tensor(a: np.ndarray, kind: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=kind, device=dev)

    x_norm = (x - mean) / std
    return DigitsSplit(
        x_train=to_tensor(x_norm[train], dtype),
        y_train=to_tensor(y[train], torch.int64),
        x_val=to_tensor(x_norm[val], dtype),
        y_val=to_tensor(y[val], torch.int64),
        mean=mean,
        std=std,
    )


# IDX type codes (third byte of the magic number) and their big-endian NumPy dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def sha256_file(path: str | Path) -> str:
    """The SHA-256 hex digest of the file's bytes as stored (compressed, if it is)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: str | Path, *, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzip-compressed, into a NumPy array.

    With ``sha256`` the file's digest is verified first, and a mismatch raises ``ValueError``
    before any byte is parsed. A bad magic number, an unknown type code or a size that does not
    match the header also raise ``ValueError`` naming the file.
    """
    path = Path(path)
    if sha256 is not None:
        actual = sha256_file(path)
        if actual.lower() != sha256.lower():
            raise ValueError(f"{path}: checksum mismatch, expected sha256 {sha256}, got {actual}")
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number must start with two zero bytes)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} data bytes), "
            f"file has {len(raw) - header_end} data bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: path ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(native.newbyteorder(">")).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
