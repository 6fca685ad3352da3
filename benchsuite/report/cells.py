"""Cells of a leaderboard: each (pair, weights, method, compression) with its seeds' per-example test outcomes,
decoded once from the stored bitsets, and the aggregate table of the cells with their intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..run.store import unpack
from .stats import interval

KEYS = ["pair", "weights", "method", "compression"]
SIZE_TOLERANCE = 0.95  # a cell is at its column's size when it achieves within 5% of its compression
SPEED = ["measured_speedup", "measured_speedup_b64", "dense_latency_ms", "dense_latency_ms_b64"]


def with_patterns(frame: pd.DataFrame) -> pd.DataFrame:
    """The results with each N:M or channel case's pattern in its method's name (`nm_magnitude 2:4`, `l1_filter
    ch-x2`), and each case's retraining budget when not its stage's own (`global_magnitude [full]`): 2:4 and 4:8 keep
    the same fraction, and one method at two budgets is two methods of training, so each is a row of its own."""
    method = frame.method
    for column, form in (("pattern", " {}"), ("budget", " [{}]")):
        if column in frame:
            value = frame[column].fillna("").astype(str)
            method = method.where(value == "", method + value.map(form.format))
    return frame.assign(method=method)


class Cells:
    """The per-example outcomes (seeds x test images) of every cell of a results frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._outcomes: dict[tuple, np.ndarray] = {}
        self._seeds: dict[tuple, list[int]] = {}
        for key, g in frame.sort_values("seed").groupby(KEYS):
            self._seeds[key] = g.seed.tolist()
            self._outcomes[key] = np.stack([unpack(b, n) for b, n in zip(g.test_correct, g.n_test)])
        self.classes = frame.groupby("pair")["num_classes"].first().to_dict()

    def get(self, pair: str, weights: str, method: str, compression: float) -> np.ndarray | None:
        return self._outcomes.get((pair, weights, method, compression))

    def seeds(self, pair: str, weights: str, method: str, compression: float) -> list[int]:
        return self._seeds.get((pair, weights, method, compression), [])

    def aggregate(self) -> pd.DataFrame:
        """One row per cell: mean top-1 with its 95% interval and seed count, the method's stage, the cell's mean
        achieved compression, theoretical speedup, top-1 right after pruning, dense top-1 and training epochs, and
        the median over seeds of its measured speedups and dense latencies with the form most often fastest, and
        whether it is at its column's size (`at_size`, within 5%: an N:M pattern whose layers partly stay dense is
        not, nor is a channel ratio, which removes a layer's inputs with its neighbour's outputs)."""
        g = self.frame.groupby(KEYS)
        out = g[["compression_achieved", "speedup", "top1_after_pruning", "dense_top1", "train_epochs"]].mean()
        out[SPEED] = g[SPEED].median()
        for form in ("latency_form", "latency_form_b64"):
            out[form] = g[form].agg(lambda s: s.mode().iloc[0])
        out["stage"] = g["stage"].first()
        ratio = out.compression_achieved / out.index.get_level_values("compression")
        out["at_size"] = (ratio >= SIZE_TOLERANCE) & (ratio <= 1 / SIZE_TOLERANCE)
        estimates = {key: interval(c) for key, c in self._outcomes.items()}
        out["top1"] = [estimates[k].mean for k in out.index]
        out["low"] = [estimates[k].low for k in out.index]
        out["high"] = [estimates[k].high for k in out.index]
        out["n"] = [estimates[k].seeds for k in out.index]
        return out.reset_index()

    def at(self, pair: str, weights: str, method: str, value: float, axis: str = "speedup") -> np.ndarray | None:
        """Outcomes interpolated (linearly in log `axis`: theoretical `speedup` or `compression_achieved`, between
        the two compressions that bracket `value`, seed by seed) at a value the method reaches; None outside its
        range."""
        rows = self.frame[(self.frame.pair == pair) & (self.frame.weights == weights) & (self.frame.method == method)]
        curve = rows.groupby("compression")[axis].mean().sort_values()
        x = np.log2(curve.to_numpy())
        if len(x) == 0 or not x[0] <= np.log2(value) <= x[-1]:
            return None
        k = min(int(np.searchsorted(x, np.log2(value))), len(x) - 1)
        if x[k] == np.log2(value) or k == 0:
            return self.get(pair, weights, method, curve.index[k])
        w = (np.log2(value) - x[k - 1]) / (x[k] - x[k - 1])
        lo, hi = (curve.index[k - 1], curve.index[k])
        seeds = sorted(set(self.seeds(pair, weights, method, lo)) & set(self.seeds(pair, weights, method, hi)))
        a = self.get(pair, weights, method, lo)[[self.seeds(pair, weights, method, lo).index(s) for s in seeds]]
        b = self.get(pair, weights, method, hi)[[self.seeds(pair, weights, method, hi).index(s) for s in seeds]]
        return (1 - w) * a + w * b


def shared_speedups(agg: pd.DataFrame, methods: list[str]) -> np.ndarray:
    """5 theoretical speedups (log-spaced) that every one of `methods` reaches in a (pair, weights) block's
    aggregate."""
    curves = [agg[agg.method == m]["speedup"] for m in methods]
    if any(c.empty for c in curves):
        return np.array([])
    lo, hi = max(np.log2(c).min() for c in curves), min(np.log2(c).max() for c in curves)
    return 2 ** np.linspace(lo, hi, 5) if lo < hi else np.array([])


def emptied_layers(frame: pd.DataFrame) -> dict[tuple, list[str]]:
    """Per case (method, pair, weights, compression, seed) that left a prunable layer without a weight, those layers
    (the classifier is never pruned)."""
    cols = [c for c in frame.columns if c.startswith("density:")]
    if not cols:
        return {}
    return {(r.method, r.pair, r.weights, r.compression, r.seed): [c.split(":", 1)[1] for c in cols if r[c] == 0]
            for _, r in frame[(frame[cols] == 0).any(axis=1)].iterrows()}
