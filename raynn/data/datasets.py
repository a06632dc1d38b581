"""Image classification data sets as in-memory tensors, and a seeded train/validation split.

Every loader returns an :class:`ArrayDataset`: the whole data set as one float32 tensor ``x`` of
shape ``(N, C, H, W)`` holding the raw pixel values (no scaling: MNIST is 0..255, ``digits`` is
0..16) and one int64 tensor ``y`` of labels. Scaling is the preprocessor's job
(:mod:`raynn.data.preprocess`), fitted on the training split only.

Names (the ``DATASETS`` registry):

* ``digits`` -- scikit-learn's embedded ``load_digits`` (1797 images, 1x8x8). Needs no files.
* ``mnist`` -- IDX files read with numpy from the directory ``root``; every pair present of
  ``train-{images-idx3,labels-idx1}-ubyte[.gz]`` and ``t10k-...`` is loaded, train first. Without ``root``,
  the MNIST test set that ships inside raynn (:data:`MNIST_BUNDLED`, 10,000 images). Where the directory
  holds an ``MD5SUMS`` file (as the bundled one does), every file it lists is checked against it first.
* ``torchvision-mnist``, ``fashion-mnist``, ``cifar10`` -- ``torchvision.datasets`` with
  ``download=False``; train and test parts concatenated, train first.

Nothing is ever downloaded: a missing file is a ``ValueError`` naming the root.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from raynn.registry import Registry
from raynn.values import check_int, is_finite_number, is_int, value_error

__all__ = [
    "DATASETS",
    "MNIST_BUNDLED",
    "ArrayDataset",
    "DatasetInfo",
    "load",
    "read_idx",
    "split",
]


@dataclass(frozen=True)
class ArrayDataset:
    """A labelled image data set held as two tensors.

    Args:
        x: Images, float32, shape ``(N, C, H, W)``.
        y: Labels, int64, shape ``(N,)``, each in ``[0, num_classes)``.
        num_classes: Number of classes.
        name: The registry name it was loaded under.
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.x.dim() != 4:
            raise ValueError(
                f"`x` must be a float32 tensor of shape (N, C, H, W), "
                f"but got dtype={self.x.dtype}, shape={tuple(self.x.shape)}"
            )
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise ValueError(
                f"`y` must be an int64 tensor of shape (N,), but got dtype={self.y.dtype}, "
                f"shape={tuple(self.y.shape)}"
            )
        if len(self.x) != len(self.y):
            raise ValueError(f"`len(x) == len(y)` must hold, but got ({len(self.x)=}, {len(self.y)=})")
        if self.num_classes < 1:
            raise ValueError(f"`num_classes >= 1` must hold, but got {self.num_classes=}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, num_classes={self.num_classes}), "
                f"but got min={int(self.y.min())}, max={int(self.y.max())}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one example."""
        c, h, w = self.x.shape[1:]
        return (c, h, w)

    def take(self, indices: torch.Tensor) -> ArrayDataset:
        """The examples at ``indices`` (an int64 tensor), in that order."""
        return ArrayDataset(self.x[indices], self.y[indices], self.num_classes, self.name)


# A loader takes `root` (a directory, or None) and returns the whole data set.
Loader = Callable[..., ArrayDataset]


@dataclass(frozen=True)
class DatasetInfo:
    """What ``DATASETS`` maps a name to: the loader and what is known before loading.

    Args:
        loader: ``loader(root) -> ArrayDataset``.
        input_shape: ``(C, H, W)`` of the standard files (config checks build the model from it).
        num_classes: Number of classes.
        needs_root: Whether ``root`` must name a directory of files.
    """

    loader: Loader
    input_shape: tuple[int, int, int]
    num_classes: int
    needs_root: bool = True

    def __call__(self, root: str | os.PathLike[str] | None = None) -> ArrayDataset:
        return self.loader(root)


DATASETS: Registry[DatasetInfo] = Registry("data set")


# --------------------------------------------------------------------------- digits


def load_digits(root: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """scikit-learn's ``load_digits``; ``root`` is ignored (the data ships with scikit-learn)."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32)).unsqueeze(1)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    return ArrayDataset(x.contiguous(), y, 10, "digits")


# --------------------------------------------------------------------------- IDX (raw MNIST)

# The third byte of an IDX magic number codes the element type; all are big-endian.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str], expected_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array.

    The format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
    ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data.

    Args:
        path: The file; a name ending in ``.gz`` is decompressed.
        expected_ndim: If given, the magic number must announce this many dimensions
            (3 for images, 1 for labels).

    Raises:
        ValueError: naming the file, on a bad magic number or when the data size disagrees with
            the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file: the magic number must be 0x0000 <type in "
            f"{sorted(hex(t) for t in _IDX_DTYPES)}> <ndim>, but got {raw[:4].hex() or 'an empty file'}"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(
            f"{path}: bad magic number {raw[:4].hex()}: expected {expected_ndim} dimensions, but got {ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header: {header} bytes needed, but the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: size mismatch: header says shape {shape} ({expected} bytes of data), "
            f"but the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _require_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        raise ValueError(
            f"data set {name!r} needs `root`, the directory holding its files, but got root=None"
        )
    path = Path(root)
    if not path.is_dir():
        raise ValueError(
            f"data set {name!r}: root={str(root)!r} is not a directory; the files are not there "
            f"(nothing is downloaded, put them there first)"
        )
    return path


# The real MNIST test set (LeCun, Cortes and Burges; t10k-*, 10,000 images, 1.7 MB gzipped) with its MD5SUMS.
MNIST_BUNDLED = Path(__file__).resolve().parent / "mnist"


def verify_md5sums(root: Path) -> None:
    """Check every file that ``root/MD5SUMS`` lists (``md5sum`` format) against its digest; no file, no check.

    Raises:
        ValueError: naming the file, on a missing file or a digest that differs.
    """
    sums = root / "MD5SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, _, name = line.strip().partition("  ")
        path = root / name.lstrip("*")
        if not path.is_file():
            raise ValueError(f"{path}: listed in {sums} but missing")
        actual = hashlib.md5(path.read_bytes()).hexdigest()
        if actual != expected.lower():
            raise ValueError(f"{path}: MD5 must be {expected} as {sums} says, but got {actual} (a damaged copy)")


def load_mnist_idx(root: str | os.PathLike[str] | None) -> ArrayDataset:
    """Every ``train-*`` / ``t10k-*`` IDX pair in ``root`` (default: the bundled test set), train first, pixels
    0..255 as float32; files listed in ``root/MD5SUMS`` are verified first."""
    path = _require_root("mnist", MNIST_BUNDLED if root is None else root)
    verify_md5sums(path)
    xs, ys = [], []
    for part in ("train", "t10k"):
        images = _find(path, f"{part}-images-idx3-ubyte")
        labels = _find(path, f"{part}-labels-idx1-ubyte")
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            missing = f"{part}-images-idx3-ubyte" if images is None else f"{part}-labels-idx1-ubyte"
            raise ValueError(
                f"data set 'mnist': {missing}[.gz] is not in root={str(root)!r}, but its pair is"
            )
        x, y = read_idx(images, expected_ndim=3), read_idx(labels, expected_ndim=1)
        if len(x) != len(y):
            raise ValueError(
                f"data set 'mnist': {images.name} holds {len(x)} images "
                f"but {labels.name} holds {len(y)} labels"
            )
        xs.append(torch.from_numpy(x.astype(np.float32)))
        ys.append(torch.from_numpy(y.astype(np.int64)))
    if not xs:
        raise ValueError(
            f"data set 'mnist': the files are not there: no train-images-idx3-ubyte[.gz] or "
            f"t10k-images-idx3-ubyte[.gz] (with its labels file) in root={str(root)!r}"
        )
    return ArrayDataset(torch.cat(xs).unsqueeze(1).contiguous(), torch.cat(ys), 10, "mnist")


# --------------------------------------------------------------------------- torchvision


def _torchvision_loader(name: str, class_name: str, num_classes: int, layout: str) -> Loader:
    def load_torchvision(root: str | os.PathLike[str] | None) -> ArrayDataset:
        import torchvision.datasets

        path = _require_root(name, root)
        cls = getattr(torchvision.datasets, class_name)
        xs, ys = [], []
        for train in (True, False):
            try:
                ds = cls(root=str(path), train=train, download=False)
            except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
                raise ValueError(
                    f"data set {name!r}: the files are not there under root={str(root)!r} "
                    f"(torchvision.datasets.{class_name} with download=False said: {error}); "
                    f"nothing is downloaded, put them there first"
                ) from error
            data = torch.as_tensor(np.asarray(ds.data))
            # MNIST-like: (N, H, W) uint8; CIFAR: (N, H, W, C) uint8.
            data = data.unsqueeze(1) if layout == "NHW" else data.permute(0, 3, 1, 2)
            xs.append(data.to(torch.float32))
            ys.append(torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64))
        return ArrayDataset(torch.cat(xs).contiguous(), torch.cat(ys), num_classes, name)

    load_torchvision.__name__ = f"load_{name.replace('-', '_')}"
    load_torchvision.__doc__ = (
        f"torchvision.datasets.{class_name}(root, download=False), train then test, raw pixels 0..255."
    )
    return load_torchvision


DATASETS.add(
    "digits",
    DatasetInfo(load_digits, (1, 8, 8), 10, needs_root=False),
    "scikit-learn's embedded 8x8 digits (1797 images, values 0..16); no files",
)
DATASETS.add(
    "mnist",
    DatasetInfo(load_mnist_idx, (1, 28, 28), 10, needs_root=False),
    "MNIST from IDX files (train-*/t10k-*, optionally .gz) in `root`; without it the bundled test set (10,000)",
)
DATASETS.add(
    "torchvision-mnist",
    DatasetInfo(_torchvision_loader("torchvision-mnist", "MNIST", 10, "NHW"), (1, 28, 28), 10),
    "torchvision.datasets.MNIST under root/MNIST/raw (download=False), train+test",
)
DATASETS.add(
    "fashion-mnist",
    DatasetInfo(_torchvision_loader("fashion-mnist", "FashionMNIST", 10, "NHW"), (1, 28, 28), 10),
    "torchvision.datasets.FashionMNIST under root/FashionMNIST/raw (download=False), train+test",
)
DATASETS.add(
    "cifar10",
    DatasetInfo(_torchvision_loader("cifar10", "CIFAR10", 10, "NHWC"), (3, 32, 32), 10),
    "torchvision.datasets.CIFAR10 under root/cifar-10-batches-py (download=False), train+test",
)


# --------------------------------------------------------------------------- load / split


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_int("seed", seed, rule="must be an int", error=value_error))


def load(
    name: str = "digits",
    root: str | os.PathLike[str] | None = None,
    subset: int | None = None,
    seed: int = 0,
) -> ArrayDataset:
    """Load the data set registered as ``name``.

    Args:
        name: A ``DATASETS`` name; unknown names raise ``ValueError`` listing the valid ones.
        root: Directory of the files (ignored by ``digits``).
        subset: If given, keep only the first ``subset`` examples of a permutation drawn from a
            ``torch.Generator`` seeded with ``seed`` (in permutation order), for quick runs.
        seed: Seed of that permutation.
    """
    dataset = DATASETS.get(name)(root)
    if subset is None:
        return dataset
    if not is_int(subset) or not 1 <= subset <= len(dataset):
        raise ValueError(
            f"`1 <= subset <= len(dataset)` must hold, but got ({subset=!r}, len(dataset)={len(dataset)})"
        )
    perm = torch.randperm(len(dataset), generator=_generator(seed))
    return dataset.take(perm[:subset])


def _apportion(counts: list[int], total: int) -> list[int]:
    """Split ``total`` over classes in proportion to ``counts`` (largest-remainder method).

    Integer arithmetic only: class ``c`` gets ``floor(counts[c] * total / N)`` plus one for the
    classes with the largest remainders (ties to the lower class index) until ``total`` is reached.
    """
    n = sum(counts)
    quotas = [c * total // n for c in counts]
    remainders = [c * total % n for c in counts]
    for c in sorted(range(len(counts)), key=lambda c: (-remainders[c], c))[: total - sum(quotas)]:
        quotas[c] += 1
    return quotas


def split(dataset: ArrayDataset, val_fraction: float, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """Stratified, seeded split into (train, validation).

    ``n_val = floor(N * val_fraction + 1/2)`` examples go to validation, apportioned over classes in
    proportion to their sizes (largest remainders); within each class the validation examples are
    the first of a permutation from a ``torch.Generator`` seeded with ``seed``. Both parts keep the
    original order of their examples. The same seed gives the same split.

    Args:
        dataset: The data set to split.
        val_fraction: Fraction of examples for validation, ``0 < val_fraction < 1``.
        seed: Seed of the permutation.

    Raises:
        ValueError: if ``val_fraction`` is outside ``(0, 1)`` or leaves one part empty.
    """
    if not is_finite_number(val_fraction) or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"`0 < val_fraction < 1` must hold, but got {val_fraction=!r}")
    n = len(dataset)
    n_val = math.floor(n * float(val_fraction) + 0.5)
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"`1 <= round(N * val_fraction) <= N - 1` must hold so that both parts are non-empty, "
            f"but got ({n_val=}, N={n}, {val_fraction=})"
        )
    generator = _generator(seed)
    classes = torch.unique(dataset.y)
    members = [torch.nonzero(dataset.y == c).flatten() for c in classes]
    quotas = _apportion([len(m) for m in members], n_val)
    is_val = torch.zeros(n, dtype=torch.bool)
    for idx, quota in zip(members, quotas):
        is_val[idx[torch.randperm(len(idx), generator=generator)[:quota]]] = True
    train_idx = torch.nonzero(~is_val).flatten()
    val_idx = torch.nonzero(is_val).flatten()
    return dataset.take(train_idx), dataset.take(val_idx)
