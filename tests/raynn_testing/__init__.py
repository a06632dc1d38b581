"""Test fixtures that Ray workers run (importable as ``raynn_testing``: pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path


def write_image_folder(root: Path, per_class: int = 12, side: int = 8) -> Path:
    """PNG files in class folders (torchvision's ImageFolder layout), 3 classes; class c has brightness ~ c."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["ants", "bees", "cats"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(60 + 70 * c, 20, (side, side, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root
