"""A small convolutional network whose width and depth a search can tune (``model.init_args.width``)."""

from __future__ import annotations

from torch import nn


class ShapeNet(nn.Module):
    """``depth`` blocks of conv 3x3 -> batch norm -> ReLU -> max-pool, then a linear classifier.

    Args:
        width: Channels of the first block (doubled in each next one).
        depth: Number of blocks.
        num_classes: Outputs; raynn fills it in from the data set when not given.
        in_channels: Channels of the input images.
    """

    def __init__(self, width: int = 16, depth: int = 2, num_classes: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(depth):
            out = width * 2**i
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
