import gzip

import numpy as np
import pytest
import torch

from coursekit.data import load_digits_split, read_idx, sha256_file, write_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_idx_round_trip(tmp_path, dtype: str) -> None:
    rng = np.random.default_rng(0)
    array = (rng.random((3, 4, 5)) * 100).astype(np.dtype(dtype))
    path = write_idx(tmp_path / "data.idx", array)
    assert np.array_equal(read_idx(path), array)


def test_idx_reads_mnist_layout_gzipped_with_checksum(tmp_path) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    labels = np.arange(10, dtype=np.uint8)
    img_path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    lbl_path = write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    raw = gzip.decompress(img_path.read_bytes())
    assert raw[:4] == b"\x00\x00\x08\x03"  # ubyte, three dimensions: MNIST's magic 2051
    assert int.from_bytes(raw[4:8], "big") == 10
    got = read_idx(img_path, sha256=sha256_file(img_path))
    assert got.shape == (10, 28, 28) and got.dtype == np.uint8 and np.array_equal(got, images)
    assert np.array_equal(read_idx(lbl_path), labels)


def test_idx_checksum_mismatch_is_refused(tmp_path) -> None:
    path = write_idx(tmp_path / "x.idx", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="checksum mismatch"):
        read_idx(path, sha256="0" * 64)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x00\x01", "header says shape"),
    ],
)
def test_idx_bad_files_raise_clear_errors(tmp_path, payload: bytes, message: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_digits_split_is_fixed_and_normalized() -> None:
    a = load_digits_split(seed=0, device="cpu")
    b = load_digits_split(seed=0, device="cpu")
    assert a.x_train.shape == (1438, 64) and a.x_val.shape == (359, 64)
    assert a.y_train.dtype == torch.int64 and set(a.y_val.tolist()) == set(range(10))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert abs(float(a.x_train.mean())) < 1e-5 and abs(float(a.x_train.std()) - 1) < 1e-3
    images = a.images(a.x_val[:3])
    assert images.shape == (3, 8, 8) and float(images.min()) >= -1e-6
    assert float(images.max()) <= 1 + 1e-6
    other = load_digits_split(seed=1, device="cpu")
    assert not torch.equal(a.y_val, other.y_val)
    with pytest.raises(ValueError):
        load_digits_split(val_fraction=1.5)
