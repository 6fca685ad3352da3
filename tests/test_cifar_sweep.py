"""A CIFAR ResNet trained, pruned and fine-tuned on the CPU through the sweep path of the paper profile, on a
tiny CIFAR-10 written in the real format (short recipes: the path, not the accuracy, is under test)."""
from __future__ import annotations

import csv
from pathlib import Path

from datafiles import write_cifar

pytest_plugins = ["pytester"]

CONFTEST = '''
import dataclasses
import os

import torchvision.datasets.cifar as tv_cifar

from benchsuite.plan.pairs import PAIRS, adam, get_pair, sgd
from benchsuite.plan.sweeps import SWEEPS, Block, Sweep
from benchsuite.run import latency

# written files cannot match the real archives' md5 sums; only that check is bypassed
tv_cifar.check_integrity = lambda path, md5=None: os.path.isfile(path)
# the path is under test, not the timing: a ResNet-20's latency is measured in 3 rounds after one warm-up, not 21
# after three (a forward pass of 64 images takes about 0.3 s on one thread: most of the test's time)
latency.ROUNDS, latency.WARMUPS = 3, 1

paper = get_pair("cifar10-resnet20")
PAIRS.add("tiny-cifar10-resnet20", dataclasses.replace(
    paper, name="tiny-cifar10-resnet20", weights={"A": adam(1e-3, 1, 32)}, finetune=sgd(0.01, 1, 32), prune_batch=32))
SWEEPS.add("tiny-paper", Sweep("tiny-paper", (  # the dense model, a data-free and a gradient method, x1 and x4
    Block(("tiny-cifar10-resnet20",), ("A",), "global_magnitude", (1, 4), (0,)),
    Block(("tiny-cifar10-resnet20",), ("A",), "layer_gradient", (4,), (0,)))))
'''


def test_a_cifar_resnet_goes_through_the_sweep_on_cpu(pytester):
    write_cifar(pytester.path / "data", classes=10, per_batch=40, n_test=40)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    result = pytester.runpytest_subprocess("--sweep", "tiny-paper", "--data-root", "data", "--bench-dir", "bench",
                                           "--prune-rounds", "1", "--device", "cpu", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    rows = list(csv.DictReader(open(Path(pytester.path) / "leaderboard" / "tiny-paper" / "results.csv")))
    assert len(rows) == 3
    for r in rows:
        assert r["pair"] == "tiny-cifar10-resnet20" and int(r["n_test"]) == 40
        assert abs(float(r["compression_achieved"]) - float(r["compression"])) < 0.01
        assert float(r["speedup"]) >= 1
