from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from raynn.data.datasets import (
    DATASETS,
    MNIST_BUNDLED,
    ArrayDataset,
    DatasetInfo,
    _apportion,
    load,
    read_idx,
    split,
)


def _write_idx(path: Path, array: np.ndarray, type_code: int = 0x08, compress: bool = False) -> None:
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _write_mnist_pair(root: Path, part: str, images: np.ndarray, labels: np.ndarray, compress: bool) -> None:
    _write_idx(root / f"{part}-images-idx3-ubyte", images, compress=compress)
    _write_idx(root / f"{part}-labels-idx1-ubyte", labels, compress=compress)


def _toy(labels: list[int], num_classes: int = 3) -> ArrayDataset:
    n = len(labels)
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1)
    return ArrayDataset(x, torch.tensor(labels, dtype=torch.int64), num_classes, "toy")


def test_registry_names() -> None:
    assert DATASETS.names() == ["cifar10", "digits", "fashion-mnist", "mnist", "torchvision-mnist"]
    for entry in DATASETS:
        assert entry.summary
        assert isinstance(entry.obj, DatasetInfo) and entry.obj.num_classes == 10
    assert DATASETS.get("digits").input_shape == (1, 8, 8) and not DATASETS.get("digits").needs_root
    assert DATASETS.get("cifar10").input_shape == (3, 32, 32) and DATASETS.get("cifar10").needs_root
    assert not DATASETS.get("mnist").needs_root  # the bundled test set


def test_digits_is_the_default() -> None:
    ds = load()
    assert ds.name == "digits"
    assert ds.x.shape == (1797, 1, 8, 8)
    assert ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 16.0
    assert ds.num_classes == 10 and sorted(ds.y.unique().tolist()) == list(range(10))
    assert ds.image_shape == (1, 8, 8) and len(ds) == 1797


def test_real_mnist_test_set_ships_inside_the_package() -> None:
    assert MNIST_BUNDLED.is_relative_to(Path(__import__("raynn").__file__).parent)
    ds = load("mnist")
    assert ds.x.shape == (10_000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.image_shape == DATASETS.get("mnist").input_shape
    assert ds.y.shape == (10_000,) and ds.y.dtype == torch.int64
    assert sorted(ds.y.unique().tolist()) == list(range(10))
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 255.0
    assert torch.equal(ds.x, ds.x.round())  # raw integer pixels, no scaling
    assert ds.num_classes == 10 and ds.name == "mnist"
    assert torch.equal(load("mnist", root=MNIST_BUNDLED).y, ds.y)
    # LeCun's published class counts of the test set
    assert torch.bincount(ds.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_files_are_checked_against_their_md5sums(tmp_path: Path) -> None:
    for f in MNIST_BUNDLED.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    assert len(load("mnist", root=tmp_path)) == 10_000
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-1] + b"\x00"))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: MD5 must be ec29112dd5afa0611ce80d1b7f02629c"):
        load("mnist", root=tmp_path)
    labels.unlink()
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: listed in .*MD5SUMS but missing"):
        load("mnist", root=tmp_path)


def test_mnist_idx_loads_train_then_t10k_plain_and_gzip(tmp_path: Path) -> None:
    train_x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    test_x = np.full((3, 3, 4), 200, dtype=np.uint8)
    _write_mnist_pair(tmp_path, "t10k", test_x, np.array([7, 8, 9], dtype=np.uint8), compress=True)
    _write_mnist_pair(tmp_path, "train", train_x, np.array([1, 2], dtype=np.uint8), compress=False)
    ds = load("mnist", root=tmp_path)
    assert ds.x.shape == (5, 1, 3, 4)
    assert ds.y.tolist() == [1, 2, 7, 8, 9]
    assert torch.equal(ds.x[:2, 0], torch.from_numpy(train_x).float())
    assert torch.equal(ds.x[2:, 0], torch.full((3, 3, 4), 200.0))


def test_read_idx_other_types(tmp_path: Path) -> None:
    array = np.array([[1.5, -2.0], [3.0, 4.25]], dtype=">f4")
    _write_idx(tmp_path / "f.idx", array, type_code=0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), array)


def test_mnist_bad_magic_names_the_file(tmp_path: Path) -> None:
    _write_mnist_pair(tmp_path, "t10k", np.zeros((2, 3, 3), np.uint8), np.zeros(2, np.uint8), compress=False)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x08\x03" + bad.read_bytes()[4:])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*magic"):
        load("mnist", root=tmp_path)


def test_mnist_wrong_ndim_in_magic_names_the_file(tmp_path: Path) -> None:
    # Labels where images belong: magic ...0801 (1 dimension) instead of ...0803.
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros(4, np.uint8))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*3 dimensions"):
        load("mnist", root=tmp_path)


def test_mnist_size_mismatch_names_the_file(tmp_path: Path) -> None:
    _write_mnist_pair(tmp_path, "train", np.zeros((2, 3, 3), np.uint8), np.zeros(2, np.uint8), compress=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*size mismatch"):
        load("mnist", root=tmp_path)


def test_mnist_count_mismatch_between_images_and_labels(tmp_path: Path) -> None:
    _write_mnist_pair(tmp_path, "train", np.zeros((2, 3, 3), np.uint8), np.zeros(3, np.uint8), compress=False)
    with pytest.raises(ValueError, match="2 images but .* 3 labels"):
        load("mnist", root=tmp_path)


def test_mnist_half_a_pair_is_an_error(tmp_path: Path) -> None:
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        load("mnist", root=tmp_path)


def test_mnist_empty_root_says_files_are_not_there(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not there.*" + str(tmp_path)):
        load("mnist", root=tmp_path)


@pytest.mark.parametrize("name", ["torchvision-mnist", "fashion-mnist", "cifar10"])
def test_file_based_sets_need_a_root(name: str) -> None:
    with pytest.raises(ValueError, match="root"):
        load(name)


@pytest.mark.parametrize("name", ["torchvision-mnist", "fashion-mnist", "cifar10"])
def test_torchvision_sets_missing_files_name_the_root(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"{name}.*files are not there.*{tmp_path}"):
        load(name, root=tmp_path)


@pytest.mark.parametrize("name", ["mnist", "torchvision-mnist", "fashion-mnist", "cifar10"])
def test_missing_root_directory(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not there"):
        load(name, root=tmp_path / "nowhere")


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names: cifar10, digits"):
        load("imagenet")


def test_array_dataset_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="float32"):
        ArrayDataset(torch.zeros(2, 1, 2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.int64), 2, "t")
    with pytest.raises(ValueError, match="int64"):
        ArrayDataset(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int32), 2, "t")
    with pytest.raises(ValueError, match="len"):
        ArrayDataset(torch.zeros(3, 1, 2, 2), torch.zeros(2, dtype=torch.int64), 2, "t")
    with pytest.raises(ValueError, match="num_classes=2"):
        ArrayDataset(torch.zeros(2, 1, 2, 2), torch.tensor([0, 2]), 2, "t")


def test_subset_is_a_seeded_permutation_prefix() -> None:
    full = load("digits")
    a, b = load("digits", subset=100, seed=3), load("digits", subset=100, seed=3)
    assert len(a) == 100 and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(3))[:100]
    assert torch.equal(a.x, full.x[perm]) and torch.equal(a.y, full.y[perm])
    assert not torch.equal(a.y, load("digits", subset=100, seed=4).y)


@pytest.mark.parametrize("subset", [0, 1798, -1, 2.5, True])
def test_subset_out_of_range(subset: object) -> None:
    with pytest.raises(ValueError, match="subset"):
        load("digits", subset=subset)  # type: ignore[arg-type]


def test_apportion_largest_remainder_table() -> None:
    # counts [5, 3, 2], 3 to place: floors [1, 0, 0], remainders [15, 9, 6] / 10 -> classes 1, 2 get one more.
    assert _apportion([5, 3, 2], 3) == [1, 1, 1]
    assert _apportion([6, 4], 5) == [3, 2]
    assert _apportion([10, 10, 10], 4) == [2, 1, 1]  # tie goes to the lower class
    assert _apportion([7, 1], 0) == [0, 0]


def test_split_is_stratified_disjoint_and_complete() -> None:
    ds = _toy([0] * 6 + [1] * 4 + [2] * 10)
    train, val = split(ds, 0.5, seed=0)
    assert len(train) == 10 and len(val) == 10
    assert torch.bincount(val.y, minlength=3).tolist() == [3, 2, 5]
    ids_train, ids_val = set(train.x.flatten().tolist()), set(val.x.flatten().tolist())
    assert ids_train.isdisjoint(ids_val) and ids_train | ids_val == set(range(20))
    # Both parts keep the original order, and each x still carries its own label.
    assert train.x.flatten().tolist() == sorted(ids_train)
    assert torch.equal(ds.y[train.x.flatten().long()], train.y)


def test_split_is_deterministic_per_seed() -> None:
    ds = load("digits")
    t1, v1 = split(ds, 0.2, seed=7)
    t2, v2 = split(ds, 0.2, seed=7)
    assert torch.equal(v1.x, v2.x) and torch.equal(t1.y, t2.y)
    _, v3 = split(ds, 0.2, seed=8)
    assert not torch.equal(v1.x, v3.x)
    assert len(v1) == round(1797 * 0.2) == 359 and len(t1) == 1797 - 359
    # Stratified: each class within one example of its share.
    share = torch.bincount(ds.y).double() * 359 / 1797
    assert (torch.bincount(v1.y).double() - share).abs().max() < 1


@pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.1, 1.5, 0.01])
def test_split_rejects_fractions_that_empty_a_part(val_fraction: float) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        split(_toy([0, 1, 0, 1, 2]), val_fraction)


@pytest.mark.parametrize(
    ("name", "folder"), [("torchvision-mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_torchvision_mnist_layout_loads_train_then_test(name: str, folder: str, tmp_path: Path) -> None:
    # torchvision only checks that the raw files exist (no checksum), so tiny fakes will do.
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    _write_mnist_pair(raw, "train", np.full((3, 28, 28), 9, np.uint8), np.array([0, 1, 2], np.uint8), False)
    _write_mnist_pair(raw, "t10k", np.full((2, 28, 28), 250, np.uint8), np.array([9, 8], np.uint8), False)
    ds = load(name, root=tmp_path)
    assert ds.name == name and ds.x.shape == (5, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.y.tolist() == [0, 1, 2, 9, 8]
    assert float(ds.x[0].max()) == 9.0 and float(ds.x[-1].min()) == 250.0
