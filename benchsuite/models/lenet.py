"""LeNet-300-100 and LeNet-5 for 1x28x28 inputs (the classic MNIST pruning models of Han et al., 2015)."""
from __future__ import annotations

from torch import Tensor, nn


class LeNet300(nn.Module):
    """Fully connected 784-300-100-10 with ReLU: 266,610 parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        return self.fc3(self.fc2(self.fc1(x).relu()).relu())


class LeNet5(nn.Module):
    """LeNet-5 as pruning papers use it: conv 6@5x5 (padding 2, so 28x28 MNIST keeps LeCun's 32x32 geometry),
    max-pool, conv 16@5x5, max-pool, fully connected 400-120-84-10, ReLU throughout: 61,706 parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.conv1(x).relu())
        x = self.pool(self.conv2(x).relu()).flatten(1)
        return self.fc3(self.fc2(self.fc1(x).relu()).relu())
