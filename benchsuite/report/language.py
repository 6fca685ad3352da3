"""The leaderboard of a language-model sweep: each method's perplexity at each sparsity with its interval over
calibration seeds and held-out chunks, the sparsity it achieved, the time its pass took, its measured prefill and
decode speedup, a plot, and findings that test the published claims of post-training pruning on these numbers.

The unit of a comparison is a held-out chunk: its mean per-token loss (log-perplexity) under each model. A table
(seeds x chunks) of those losses is what `stats.interval` and `stats.compare` take for top-1, so perplexity gets the
same treatment: a t interval of the mean log-perplexity holding both the chunks' noise and the calibration seeds'
(exponentiated), and paired comparisons on the same chunks with each side's seed term, Holm-corrected per claim."""
from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..files import write_atomic
from ..pruning.targets import STRUCTURED, nominal
from .claims import language as published
from .claims.rule import Claim, explanation, leader, table
from .claims.rule import render as render_claims
from .prose import wrapped
from .reference import seal
from .stats import interval

KEYS = ["pair", "weights", "method", "compression"]
MARKERS = ("x", "+", "d", "^")  # N:M patterns in the plot


def losses(rows: pd.DataFrame, column: str = "chunk_nll") -> np.ndarray:
    """Mean per-token loss of every held-out chunk (seeds x chunks) of a cell's rows."""
    return np.stack([np.asarray(v, dtype=float) / (n - 1) for v, n in zip(rows[column], rows.sequence_length)])


def order(compression: str) -> tuple[bool, float, str]:
    """Sparsities by size, then N:M patterns by their sparsity (2:4 before 4:8)."""
    return ":" in compression, nominal(compression), compression[::-1]


class Cells:
    """The per-chunk losses of every (pair, weights, method, compression) cell, and of each dense model."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.losses = {key: losses(g.sort_values("seed")) for key, g in frame.groupby(KEYS)}
        self.dense = {key: losses(g.iloc[:1], "dense_chunk_nll") for key, g in frame.groupby(["pair", "weights"])}

    def get(self, pair: str, weights: str, method: str, compression: str) -> np.ndarray | None:
        return self.losses.get((pair, weights, method, compression))

    def aggregate(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for key, g in frame.groupby(KEYS):
            e = interval(self.losses[key], bounds=(0.0, math.inf), proportion=False)
            rows.append({**dict(zip(KEYS, key)), "perplexity": math.exp(e.mean), "low": math.exp(e.low),
                         "high": math.exp(e.high), "n": e.seeds, "sparsity_achieved": g.sparsity_achieved.mean(),
                         "sparsity": g.sparsity.iloc[0], "prune_seconds": g.prune_seconds.median(),
                         "prefill_speedup": g.prefill_speedup.median(), "decode_speedup": g.decode_speedup.median(),
                         "dense_perplexity": g.dense_perplexity.iloc[0], "target": g.target.iloc[0],
                         "nonzero_params": g.nonzero_params.median()})
        return pd.DataFrame(rows)


def _cell(r: pd.Series) -> str:
    return f"{r.perplexity:.2f} [{r.low:.2f}, {r.high:.2f}] ({r.n})"


def _table(agg: pd.DataFrame, cell) -> str:
    wide = agg.assign(cell=agg.apply(cell, axis=1)).pivot(index="method", columns="compression", values="cell")
    wide = wide[sorted(wide.columns, key=order)].fillna("-")
    return wide.to_markdown(disable_numparse=True)


def _plot(agg: pd.DataFrame, pair: str, path: Path) -> None:
    """Perplexity (log scale) against sparsity: unstructured sparsities as curves, N:M patterns as points."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (method, g) in enumerate(agg.groupby("method")):
        color = f"C{i}"
        kinds = g.target.where(g.target.isin(STRUCTURED), g.compression.where(g.compression.str.contains(":"),
                                                                               "unstructured"))
        for j, (kind, part) in enumerate(g.groupby(kinds, sort=False)):
            part = part.sort_values("sparsity")
            bars = [part.perplexity - part.low, part.high - part.perplexity]
            structured = kind != "unstructured"
            ax.errorbar(part.sparsity * 100 + (0.8 * i + 0.25 * j if structured else 0), part.perplexity, yerr=bars,
                        fmt=MARKERS[j % len(MARKERS)] if structured else "-o", color=color, ms=5, capsize=2,
                        label=f"{method} {kind}")
    ax.axhline(agg.dense_perplexity.iloc[0], color="gray", ls=":", label="dense")
    ax.set_yscale("log")
    ax.set_xlabel("sparsity (or share removed) of the linear layers in the blocks (%)")
    ax.set_ylabel("perplexity on the held-out chunks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"{pair}: geometric mean over calibration seeds with 95% intervals")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, lambda f: f.write(buf.getvalue()))


def leaders(cells: Cells, agg: pd.DataFrame) -> list[str]:
    """The lowest perplexity at each compression and the methods not significantly worse (Holm over the
    comparisons with the leader)."""
    out = []
    for (pair, weights, c), g in agg.groupby(["pair", "weights", "compression"]):
        best, tied = leader({m: cells.get(pair, weights, m, c) for m in g.method}, None, proportion=False, lower=True)
        r = g.set_index("method").loc[best]
        out.append((order(c), f"- {pair} {weights} {c}: **{best}** {r.perplexity:.2f} [{r.low:.2f}, {r.high:.2f}] "
                              f"({r.n})"
                    + (f"; not significantly worse: {', '.join(tied)}" if tied else "; every other method worse")))
    return [line for _, line in sorted(out)]


def render(frame: pd.DataFrame, cells: Cells, agg: pd.DataFrame, sweep: str, n_cases: int,
           found: list[Claim]) -> str:
    first, structured = frame.iloc[0], frame.target.isin(STRUCTURED)
    masked, compacted = (pd.concat([frame[rows].prefill_speedup, frame[rows].decode_speedup])
                         for rows in (~structured, structured))
    lines = [
        f"# Leaderboard: `{sweep}` sweep", "",
        f"Generated by benchsuite from {len(frame)} of {n_cases} cases of the sweep; do not edit by hand.", "",
        "## Summary", "",
        "The lowest perplexity at each compression, with the methods not significantly worse (a paired test against "
        "the leader on the same held-out chunks, Holm-corrected per setting):", "", *leaders(cells, agg), "",
        "Published claims tested on these numbers (details under Findings):", "", *table(found), "",
        "## How to read it", "",
        "A pretrained language model is pruned after training from calibration text, with no fine-tuning: every "
        "linear layer inside its decoder layers (for Llama: attention q, k, v, o; MLP gate, up, down), block by "
        "block with the pruned blocks' outputs fed forward; embeddings, norms and the output head stay dense. A "
        "sparsity "
        "(`50%`) prunes that share of every layer (of every row for Wanda and OWL, as in their papers; OWL gives "
        "each block its own sparsity, their mean the case's); `2:4` prunes 2 of every 4 consecutive weights along "
        "each row's inputs. A structured method removes parts of the model instead, which is then compacted into a "
        "smaller dense one: a share (`25%`) removes the linear weights of round(share x L) of its L decoder layers "
        "(8 of SmolLM2's 30 at 25%: 26.7%), whole layers (ShortGPT) or as many parameters of key-value groups "
        "(a key-value head with the query heads that share it) and MLP channels across all layers (FLAP, which adds "
        "a bias for what it removes); its achieved sparsity is the share of those weights gone. A dash: no case of "
        "that method at that compression is stored (the first line counts the sweep's cases stored).", "",
        "Perplexity = exp(total token loss / predicted tokens) on "
        f"the first {first.eval_chunks} non-overlapping chunks of {first.sequence_length} tokens of the held-out "
        f"text ({first.eval_tokens} predicted tokens; the calibration text never overlaps it), in float32; each "
        f"case draws {first.calibration_sequences} calibration sequences of {first.sequence_length} tokens with its "
        "seed.", "",
        "Cells are the geometric mean over calibration seeds with a 95% t interval (n = seeds) whose "
        "variance adds the held-out chunks' noise and the calibration seeds' (magnitude reads no calibration data: "
        "one seed, and its interval holds the chunks' noise alone). Lower is better.", "",
        f"Speed is measured for every case beside the dense model, in the form the pruned model runs in (a masked "
        f"model runs the dense kernels over its zeros, so a CPU runs it at dense speed): prefill of "
        f"{first.generation['prefill_tokens']} tokens and decode of {first.generation['decode_tokens']} greedy "
        f"tokens with the KV cache, batch 1, with torch.utils.benchmark in {first.generation['rounds']} interleaved "
        "rounds, each model's time its fastest round; the speedup is the dense time over the pruned one, median "
        f"over seeds. Every masked case's speedups lie between {masked.min():.2f} and {masked.max():.2f}; a masked "
        "model does the dense model's work, so that spread is the machine's noise (during a sweep its workers share "
        "the cores)"
        + (f"; a compacted model's lie between {compacted.min():.2f} and {compacted.max():.2f}" if len(compacted)
           else "") + ". Every case is in "
        "`results.csv`, with each held-out chunk's summed loss (`chunk_nll`) for paired comparisons and every "
        "round's times (`generation`).",
    ]
    for (pair, weights), w in agg.groupby(["pair", "weights"]):
        dense = losses(frame[(frame.pair == pair) & (frame.weights == weights)].iloc[:1], "dense_chunk_nll")
        d = interval(dense, bounds=(0.0, math.inf), proportion=False)
        sha = frame[(frame.pair == pair) & (frame.weights == weights)].weights_sha256.iloc[0]
        gen = frame[(frame.pair == pair) & (frame.weights == weights)].generation.iloc[0]
        lines += [
            "", f"## {pair}, weights {weights}", "", f"![{pair}]({pair}-{weights}.png)", "",
            f"Dense model: perplexity {math.exp(d.mean):.2f} [{math.exp(d.low):.2f}, {math.exp(d.high):.2f}] "
            f"(checkpoint sha256 {sha[:16]}…).", "",
            "### Perplexity", "", _table(w, _cell),
            "", "### Achieved sparsity of the pruned layers (%)", "",
            _table(w, lambda r: f"{r.sparsity_achieved * 100:.2f}"),
            "", f"### Parameters left (millions; a masked model's nonzero ones; dense: "
                f"{frame.get('dense_params', frame.params).max() / 1e6:.2f})", "",
            _table(w, lambda r: f"{r.nonzero_params / 1e6:.2f}"),
            "", "### Pruning pass (seconds, median over seeds; calibration forward passes included)", "",
            _table(w, lambda r: f"{r.prune_seconds:.0f}"),
            "", f"### Measured speedup over the dense model: prefill / decode ({gen['device']}, {gen['threads']} "
                f"threads; dense: {gen['prefill_ms']['dense']:.0f} ms prefill, "
                f"{gen['decode_tokens_per_s']['dense']:.1f} tokens/s decode)", "",
            _table(w, lambda r: f"{r.prefill_speedup:.2f} / {r.decode_speedup:.2f}"),
        ]
    lines += ["", "## Findings", "", explanation("held-out chunks, each a chunk's mean token loss"), "",
              *render_claims(found)]
    return "\n".join(wrapped(lines)).replace("\n\n\n", "\n\n") + "\n"


def write(frame: pd.DataFrame, sweep: str, n_cases: int, out: Path) -> tuple[pd.DataFrame, list[Claim]]:
    """Write README.md, results.csv and one plot per pair and weights into `out`; returns the cells' aggregate and the
    claims tested."""
    frame = frame.sort_values(KEYS + ["seed"]).reset_index(drop=True)
    cells = Cells(frame)
    agg = cells.aggregate(frame)
    found = published.claims(cells.get, agg, frame)
    for (pair, weights), g in agg.groupby(["pair", "weights"]):
        _plot(g, pair, out / f"{pair}-{weights}.png")
    write_atomic(out / "results.csv", lambda f: f.write(seal(frame).encode()))
    write_atomic(out / "README.md", lambda f: f.write(render(frame, cells, agg, sweep, n_cases, found).encode()))
    return agg, found
