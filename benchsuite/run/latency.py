"""Measured inference latency: the dense model beside each form in which a pruned model can run, timed with
torch.utils.benchmark on the run's device, warmed up, in interleaved rounds (each form leads a round in turn, so
that no form always follows another). Each form's latency is its fastest round: other load on the machine only adds
time, and on a busy machine it adds a lot (a two-thread forward pass sharing two cores with other work ran up to
100 times slower here), so medians of a few rounds can be anything, while the fastest of many rounds holds (a
masked model measured at 0.88-1.15 times the dense one under such load, 0.96-1.05 on a quiet machine). The
quartiles over rounds are kept as the spread.

Forms: `masked` (the model as stored: dense kernels over zeros), `compact` (for a channel target, the smaller dense
model without the pruned channels), `csr` (on CPU, every pruned Linear layer with a CSR sparse weight), `2:4`
(semi-structured sparse kernels, CUDA only). A form that cannot run here is skipped with
its reason. Nothing here draws from the global random generators or touches the models it is given, so no
accuracy number can change."""
from __future__ import annotations

import copy
import statistics
import warnings
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils import benchmark

BATCHES = (1, 64)  # latency, and a throughput batch
ROUNDS = 21  # interleaved rounds; each form's fastest is its latency
BLOCK_SECONDS = 0.001  # each timing repeats the forward pass about this long (the fastest form; the same count for all)
WARMUPS = 3


class CsrLinear(nn.Module):
    """A Linear layer whose weight is a CSR sparse tensor."""

    def __init__(self, layer: nn.Linear) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            self.weight = nn.Parameter(layer.weight.detach().to_sparse_csr(), requires_grad=False)
        self.bias = layer.bias

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


def _replace(model: nn.Module, names: set[str], make: Callable[[nn.Module], nn.Module]) -> nn.Module:
    out = copy.deepcopy(model)
    for name in names:
        parent, _, child = name.rpartition(".")
        setattr(out.get_submodule(parent) if parent else out, child, make(out.get_submodule(name)))
    return out


def forms(pruned: nn.Module, masks: Mapping[str, Tensor], device: torch.device,
          compacted: nn.Module | None = None) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """The forms of `pruned` (a plain model, its pruned weights zero) that can run here, and why the others cannot;
    `compacted` is its smaller dense form, for a channel target."""
    linear = {n.removesuffix(".weight") for n, m in masks.items() if n.endswith(".weight")
              and isinstance(pruned.get_submodule(n.removesuffix(".weight")), nn.Linear) and not m.all()}
    out, skipped = {"masked": pruned}, {}
    if compacted is not None:
        out["compact"] = compacted
    else:
        skipped["compact"] = "only a channel target removes whole channels"
    if device.type != "cpu":
        skipped["csr"] = "CSR kernels are timed on CPU only"
    elif not linear:
        skipped["csr"] = "no pruned Linear layer"
    else:
        out["csr"] = _replace(pruned, linear, CsrLinear)
    if device.type != "cuda":
        skipped["2:4"] = "semi-structured sparse kernels need a CUDA device"
    else:
        skipped["2:4"] = "semi-structured sparse kernels are not yet timed"
    return out, skipped


def _timer(model: nn.Module, x: Tensor) -> benchmark.Timer:
    return benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=torch.get_num_threads())


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


@torch.no_grad()
def measure(dense: nn.Module, pruned: nn.Module, masks: Mapping[str, Tensor], input_shape: tuple[int, ...],
            device: torch.device, compacted: nn.Module | None = None) -> dict:
    """Latency of `dense` and of each form of `pruned` at every batch of BATCHES, in ms: the fastest of ROUNDS
    interleaved rounds. The speedup is the dense latency over the fastest form's. Returns a record for the results:
    per batch, per form its latency (`ms`) and its quartiles over rounds, the best form, its speedup and the
    quartiles of the per-round ratios; the skipped forms with their reasons; the device and thread count."""
    timed, skipped = forms(pruned, masks, device, compacted)
    models = {"dense": dense, **timed}
    modes = {name: m.training for name, m in models.items()}
    for m in models.values():
        m.eval()
    generator = torch.Generator().manual_seed(0)
    record: dict = {"device": str(device), "threads": torch.get_num_threads(), "skipped": skipped}
    try:
        for batch in BATCHES:
            x = torch.randn(batch, *input_shape, generator=generator).to(device)
            timers = {name: _timer(m, x) for name, m in models.items()}
            warm = min(t.timeit(2).median for t in timers.values() for _ in range(WARMUPS))
            number = max(1, int(BLOCK_SECONDS / warm))  # one count for every form: the same overhead per call
            rounds: dict[str, list[float]] = {name: [] for name in models}
            names = list(models)
            for r in range(ROUNDS):
                for name in names[r % len(names):] + names[:r % len(names)]:  # each form leads a round in turn
                    rounds[name].append(timers[name].timeit(number).median * 1e3)
            best = min(timed, key=lambda name: min(rounds[name]))
            ratios = [d / b for d, b in zip(rounds["dense"], rounds[best])]
            record[str(batch)] = {"ms": {name: min(v) for name, v in rounds.items()},
                                  "quartiles": {name: _quartiles(v) for name, v in rounds.items()}, "best": best,
                                  "speedup": min(rounds["dense"]) / min(rounds[best]), "ratios": _quartiles(ratios)}
    finally:
        for name, m in models.items():
            m.train(modes[name])
    return record


def columns(record: Mapping) -> dict:
    """The flat results.csv columns of a latency record: batch 1 and the throughput batch."""
    out = {}
    for batch in BATCHES:
        r, suffix = record[str(batch)], "" if batch == 1 else f"_b{batch}"
        out |= {f"latency_ms{suffix}": r["ms"][r["best"]], f"dense_latency_ms{suffix}": r["ms"]["dense"],
                f"measured_speedup{suffix}": r["speedup"], f"latency_form{suffix}": r["best"]}
    return out
