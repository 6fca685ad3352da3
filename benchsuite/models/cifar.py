"""CIFAR models: the ResNets of He et al. (2016, section 4.2) and VGG-16 with BatchNorm for 32x32 inputs."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelPad(nn.Module):
    """He et al.'s option-A shortcut: the input subsampled by `stride`, input channel i placed at output channel
    `out_index[i]` of `out_channels`, zeros elsewhere (the padding split equally on both sides). An index map, so that
    channel pruning can remove channels on either side of it (see `benchsuite.pruning.channels`)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.out_channels = stride, cout
        self.register_buffer("out_index", torch.arange(cin) + (cout - cin) // 2, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return x.new_zeros(x.shape[0], self.out_channels, *x.shape[2:]).index_copy(1, self.out_index, x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm; the shortcut is the identity, subsampled and zero-padded in channels
    where the shape changes (He et al.'s option A, which adds no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = ChannelPad(cin, cout, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        return (out + self.shortcut(x)).relu()


class CifarResNet(nn.Module):
    """ResNet-(6n+2): a 3x3 stem of 16 channels, three stages of n basic blocks with 16, 32 and 64 channels
    (stride 2 between stages), global average pooling and a linear classifier."""

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n+2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.bn1(self.conv1(x)).relu())
        return self.fc(x.mean((2, 3)))


VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class CifarVGG(nn.Module):
    """VGG-16 with BatchNorm after every convolution, as commonly used on CIFAR: the 13 convolutions of VGG-16,
    then a single linear classifier on the 512 features left after five poolings of a 32x32 input."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))
