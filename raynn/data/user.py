"""The user's own data: any ``torch.utils.data.Dataset`` named by ``data.class_path``, through a real DataLoader.

``data: {class_path: torchvision.datasets.ImageFolder, init_args: {root: images/}}`` builds the data set; the
class or function may also return a ``(train, validation)`` pair, which is then used as it is. Otherwise the
validation split is seeded and, where the labels are known without reading every sample (a ``targets``
attribute, as torchvision's data sets have), stratified like :func:`raynn.data.datasets.split`.

Each sample becomes ``(input, label)``: a tuple or list is taken as ``(input, label, ...)``, a mapping by
``data.batch_keys`` (``[input_key, label_key]``). ``data.train_transform`` (training samples only: random
augmentation) then ``data.transform`` (every sample) are applied to the input: a spec
``{class_path, init_args}`` or a list of them, composed with ``torchvision.transforms.v2.Compose``. A PIL image
or numpy array left at the end becomes a float32 tensor scaled to [0, 1] (``v2.ToImage`` then
``v2.ToDtype(torch.float32, scale=True)``), so a plain ``ImageFolder`` needs no transform at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from raynn.classpath import instantiate, is_spec

__all__ = ["Samples", "UserData", "build_transform", "known_labels", "load_user_data", "split_indices"]


def _to_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.dtype is torch.float32 else x.float()
    from torchvision.transforms.v2 import functional as TF

    image = TF.to_image(x)  # PIL image or HWC ndarray -> CHW tv_tensors.Image
    return TF.to_dtype(image, torch.float32, scale=True).as_subclass(torch.Tensor)


def _ready(sample: Any) -> bool:
    """Whether a raw sample is already what the loader needs: a tuple ``(float32 tensor, label, ...)``."""
    return type(sample) is tuple and len(sample) >= 2 and type(sample[0]) is torch.Tensor \
        and sample[0].dtype is torch.float32


def build_transform(spec: Any) -> Any:
    """None, one ``{class_path, init_args}`` spec or a list of them (composed with ``v2.Compose``)."""
    if spec is None:
        return None
    if is_spec(spec):
        return instantiate(spec)
    from torchvision.transforms import v2

    return v2.Compose([instantiate(s) for s in spec])


class Samples(Dataset):
    """``(input, label)`` samples of ``dataset`` at ``indices``, the input transformed and made a float tensor.

    Args:
        dataset: The user's data set (map-style: ``__len__`` and ``__getitem__``).
        indices: The indices of this split, or None for all.
        transforms: Applied to the input in order (None entries skipped).
        keys: ``(input_key, label_key)`` for mapping samples.
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | None, transforms: Sequence[Any],
                 keys: Sequence[str] | None) -> None:
        self.dataset, self.indices = dataset, None if indices is None else list(indices)
        self.transforms = [t for t in transforms if t is not None]
        self.keys = tuple(keys) if keys else None

    def __len__(self) -> int:
        return len(self.dataset) if self.indices is None else len(self.indices)

    def pair(self, sample: Any) -> tuple[Any, Any]:
        """``(input, label)`` of one raw sample."""
        if type(sample) is tuple and self.keys is None:  # the common case, first: this runs once per sample
            return sample[0], sample[1]
        if isinstance(sample, Mapping):
            if self.keys is None:
                raise ValueError(f"samples are mappings with keys {sorted(sample)}: set data.batch_keys to "
                                 "[input_key, label_key]")
            missing = [k for k in self.keys if k not in sample]
            if missing:
                raise ValueError(f"data.batch_keys {list(self.keys)}: samples have no key {missing[0]!r}; their "
                                 f"keys are {sorted(sample)}")
            return sample[self.keys[0]], sample[self.keys[1]]
        if isinstance(sample, (tuple, list)) and len(sample) >= 2:
            return sample[0], sample[1]
        raise ValueError(f"a sample must be (input, label, ...) or a mapping, but got {type(sample).__name__}")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        """``(input, label)``: the input a float32 tensor, the label as the data set gives it (the default
        collate makes a batch of them an int64 tensor; the loop checks the dtype once per batch)."""
        return self._finish(self.dataset[i if self.indices is None else self.indices[i]])

    def __getitems__(self, positions: list[int]) -> list[tuple[torch.Tensor, Any]]:
        """A batch of samples at once, through the data set's own ``__getitems__`` when it has one (as
        ``torch.utils.data.Subset`` does), so a data set that reads a batch in one operation keeps doing so."""
        real = positions if self.indices is None else [self.indices[i] for i in positions]
        many = getattr(self.dataset, "__getitems__", None)
        raw = many(real) if many is not None else [self.dataset[i] for i in real]
        if not self.transforms and self.keys is None and raw and _ready(raw[0]):
            return raw  # already (float32 tensor, label) pairs: a data set's samples are all of one kind
        return [self._finish(s) for s in raw]

    def _finish(self, sample: Any) -> tuple[torch.Tensor, Any]:
        x, y = self.pair(sample)
        for transform in self.transforms:
            x = transform(x)
        return _to_tensor(x), y


def known_labels(dataset: Any) -> torch.Tensor | None:
    """The labels of every sample when the data set tells them without reading the samples (``targets``)."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        return None
    try:
        labels = torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):
        return None
    if labels.dim() != 1 or len(labels) != len(dataset) or labels.is_floating_point():
        return None
    return labels.long()


def split_indices(n: int, labels: torch.Tensor | None, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (train, validation) indices of ``n`` samples, stratified by ``labels`` when given; the same
    arithmetic as :func:`raynn.data.datasets.split` (``round(N * val_fraction)`` validation samples)."""
    from raynn.data.datasets import _apportion

    n_val = math.floor(n * float(val_fraction) + 0.5)
    if not 1 <= n_val <= n - 1:
        raise ValueError(f"`1 <= round(N * val_fraction) <= N - 1` must hold so that both parts are non-empty, "
                         f"but got ({n_val=}, N={n}, {val_fraction=})")
    generator = torch.Generator().manual_seed(seed)
    is_val = torch.zeros(n, dtype=torch.bool)
    if labels is None:
        is_val[torch.randperm(n, generator=generator)[:n_val]] = True
    else:
        members = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
        for idx, quota in zip(members, _apportion([len(m) for m in members], n_val)):
            is_val[idx[torch.randperm(len(idx), generator=generator)[:quota]]] = True
    return torch.nonzero(~is_val).flatten().tolist(), torch.nonzero(is_val).flatten().tolist()


@dataclass
class UserData:
    """The two splits of a user data set and what the loop needs to know of them."""

    train: Samples
    val: Samples
    num_classes: int | None
    plain: Samples  # the training split without data.train_transform: what preprocessing statistics are fitted on


def _num_classes(dataset: Any, labels: torch.Tensor | None) -> int | None:
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, Sequence) and not isinstance(classes, str) and len(classes) > 0:
        return len(classes)
    if labels is not None and len(labels):
        return int(labels.max()) + 1
    return None


def _subset(indices: list[int], subset: int | None, seed: int) -> list[int]:
    if subset is None or subset >= len(indices):
        return indices
    perm = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed))
    return sorted(indices[i] for i in perm[:subset].tolist())


def load_user_data(dcfg: Any, seed: int) -> UserData:
    """Build the data set of a typed ``data`` section (``RunConfig.data``) and split it (see the module
    docstring)."""
    made = instantiate({"class_path": dcfg.class_path, "init_args": dcfg.init_args})
    keys = dcfg.batch_keys
    train_tf, tf = build_transform(dcfg.train_transform), build_transform(dcfg.transform)
    if isinstance(made, tuple) and len(made) == 2:
        train_ds, val_ds = made
        _require_dataset(train_ds, "the training part")
        _require_dataset(val_ds, "the validation part")
        indices = _subset(list(range(len(train_ds))), dcfg.subset, seed)
        train = Samples(train_ds, indices, [train_tf, tf], keys)
        val = Samples(val_ds, None, [tf], keys)
        num_classes = dcfg.num_classes or _num_classes(train_ds, known_labels(train_ds))
        return UserData(train, val, num_classes, Samples(train_ds, indices, [tf], keys))
    _require_dataset(made, "it")
    labels = known_labels(made)
    indices = _subset(list(range(len(made))), dcfg.subset, seed)
    sub_labels = labels[indices] if labels is not None else None
    train_pos, val_pos = split_indices(len(indices), sub_labels, dcfg.val_fraction, seed)
    train_idx = [indices[i] for i in train_pos]
    train = Samples(made, train_idx, [train_tf, tf], keys)
    val = Samples(made, [indices[i] for i in val_pos], [tf], keys)
    return UserData(train, val, dcfg.num_classes or _num_classes(made, labels), Samples(made, train_idx, [tf], keys))


def _require_dataset(obj: Any, what: str) -> None:
    if not (hasattr(obj, "__getitem__") and hasattr(obj, "__len__")):
        raise ValueError(f"must build a map-style torch Dataset (with __len__ and __getitem__) or a (train, "
                         f"validation) pair of them, but {what} is a {type(obj).__name__}")
