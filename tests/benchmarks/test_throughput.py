"""Training throughput of the CIFAR ResNets on this machine's CPU (images/s in each benchmark's extra_info):
one SGD step on a batch of 128 augmented, normalized 32x32 images, as the CIFAR pairs train."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import benchsuite as bs
from benchsuite.data import STATS, Split, crop_flip, normalizer

BATCH = 128


@pytest.mark.parametrize("arch", ["resnet20", "resnet56"])
def test_cifar_training_throughput(benchmark, arch):
    benchmark.group = "cifar10 training step, batch 128 (CPU)"
    torch.manual_seed(0)
    model = bs.get_model(arch).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    images = Split(torch.randint(0, 256, (BATCH * 4, 3, 32, 32), dtype=torch.uint8, generator=g),
                   torch.randint(0, 10, (BATCH * 4,), generator=g), normalizer(*STATS["cifar10"]),
                   lambda x, gen: crop_flip(x, 4, gen))
    batches = iter(())

    def step():
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = images.batches(BATCH, g)
            x, y = next(batches)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    benchmark.pedantic(step, rounds=5, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["images_per_s"] = BATCH / benchmark.stats.stats.mean
