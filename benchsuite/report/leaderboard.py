"""The leaderboard of a sweep: markdown tables, plots and findings, from the stored results."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ..files import write_atomic
from ..plan.pairs import add_checkpoint
from ..run.latency import BATCHES, ROUNDS
from .cells import KEYS, Cells, with_patterns
from .claims.rule import Claim, leader, table
from .findings import claims, findings
from .prose import wrapped
from .reference import seal
from .stats import METHOD

STAGE_ORDER = ["after_training", "at_init", "during_training"]
MARKERS = {"after_training": "o", "at_init": "^", "during_training": "s"}


def _accuracy(r: pd.Series) -> str:
    return f"{r.top1 * 100:.2f} [{r.low * 100:.2f}, {r.high * 100:.2f}] ({r.n})"


def _table(agg: pd.DataFrame, cell, dense: str) -> str:
    """Methods (grouped by stage) x compressions; `dense` fills a last row when given."""
    wide = agg.assign(cell=agg.apply(cell, axis=1)).pivot(index="method", columns="compression", values="cell")
    wide.columns = [f"x{c:g}" for c in wide.columns]
    wide = wide.fillna("missing")
    stage = agg.groupby("method")["stage"].first()
    wide.insert(0, "stage", stage.reindex(wide.index))
    wide = wide.iloc[sorted(range(len(wide)), key=lambda i: (STAGE_ORDER.index(wide.stage.iloc[i]), wide.index[i]))]
    if dense:
        wide.loc["(dense)"] = ["", *[dense] * (wide.shape[1] - 1)]
    return wide.to_markdown(disable_numparse=True)


def _plot(agg: pd.DataFrame, pair: str, path: Path) -> None:
    """Accuracy against achieved compression, theoretical speedup and measured speedup (batch 64)."""
    axes_x = {"compression_achieved": "achieved compression (total / nonzero parameters)",
              "speedup": "theoretical speedup (dense / nonzero FLOPs)",
              "measured_speedup_b64": "measured speedup at batch 64 (fastest form)"}
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), sharey=True)
    for (method, weights), g in agg.groupby(["method", "weights"]):
        g = g.sort_values("compression")
        style = ("-" if weights == "A" else "--") + MARKERS[g.stage.iloc[0]]
        for ax, x in zip(axes, axes_x):
            bars = [(g["top1"] - g["low"]) * 100, (g["high"] - g["top1"]) * 100]
            ax.errorbar(g[x], g["top1"] * 100, yerr=bars, fmt=style if x != "measured_speedup_b64" else style[-1],
                        ms=3, capsize=2, label=f"{method} ({weights})")  # measured: points, not a curve
    for ax, label in zip(axes, axes_x.values()):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final top-1 accuracy (%)")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{pair}: mean top-1 over seeds with 95% intervals (o after training, ^ at initialisation, "
                 f"s during training)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, lambda f: f.write(buf.getvalue()))


def setting_leaders(cells: Cells, agg: pd.DataFrame) -> list[list]:
    """Per pair, weights and compression (among the cells at that size): the best mean top-1, its interval and
    seeds, and the methods not significantly worse (paired, Holm together)."""
    rows = []
    for (pair, weights, c), g in agg[agg.at_size].groupby(["pair", "weights", "compression"]):
        best, tied = leader({m: cells.get(pair, weights, m, c) for m in g.method}, cells.classes[pair])
        r = g.set_index("method").loc[best]
        rows.append([pair, weights, f"x{c:g}", best, f"{r.top1 * 100:.2f} [{r.low * 100:.2f}, {r.high * 100:.2f}]",
                     r.n, ", ".join(tied) or "-"])
    return rows


def leader_densities(frame: pd.DataFrame, leaders: list[list], pair: str) -> str:
    """A markdown table of the fraction of each layer's weights that each leader of `pair` keeps (mean over
    seeds): what explains a result."""
    layers = [c for c in frame.columns if c.startswith("density:") and frame.loc[frame.pair == pair, c].notna().all()]
    rows = []
    for _, weights, ratio, best, *_ in (r for r in leaders if r[0] == pair):
        cases = frame[(frame.pair == pair) & (frame.weights == weights) & (frame.method == best)
                      & (frame.compression == float(ratio[1:]))]
        rows.append([weights, ratio, best, *(f"{cases[c].mean():.3f}" for c in layers)])
    header = ["weights", "ratio", "best", *(c.removeprefix("density:") for c in layers)]
    return pd.DataFrame(rows, columns=header).to_markdown(index=False, disable_numparse=True)


def summary(frame: pd.DataFrame, leaders: list[list], claims: list[Claim]) -> list[str]:
    """The leaderboard's opening: who leads each setting (`setting_leaders`), the verdicts of the published claims,
    and what the leaders keep of each layer."""
    out = ["## Summary", "",
           "The best mean top-1 % at each pair, weights and compression (among the cells at that size), with the "
           "methods not significantly worse than it (paired tests on the same test images, Holm together):", "",
           pd.DataFrame(leaders, columns=["pair", "weights", "ratio", "best", "top-1 % [95% interval]", "seeds",
                                          "not significantly worse"]).to_markdown(index=False, disable_numparse=True)]
    if claims:
        out += ["", "Published claims tested on these numbers (details under Findings):", "", *table(claims)]
    for pair in sorted({r[0] for r in leaders}):
        out += ["", f"What each leader keeps of every layer of {pair} (fraction of the layer's weights, mean over "
                    f"seeds):", "", leader_densities(frame, leaders, pair)]
    return out


def render(frame: pd.DataFrame, cells: Cells, agg: pd.DataFrame, sweep: str, n_cases: int, plots: list[str],
           found: dict[str, list[Claim]], leaders: list[list]) -> str:
    lines = [
        f"# Leaderboard: `{sweep}` sweep",
        "",
        f"Generated by benchsuite from {len(frame)} of {n_cases} cases of the sweep; do not edit by hand.",
        "",
        *summary(frame, leaders, [c for cs in found.values() for c in cs]),
        "",
        "## How to read it",
        "",
        "Top-1 is the exact test accuracy (correct / N) of the final model, in percent, as mean [95% "
        f"interval] (n = seeds): the {METHOD}, so it holds both the seeds' and the finite test set's noise.",
        "",
        "Methods are grouped by the stage at which they act (after training, at initialisation, during training); "
        "the harness does all training, and the training budget is counted in epochs of the training split from "
        "one origin (a random initialisation): the dense run for methods that start from the dense model, every "
        "fine-tuning, retraining and level of an iterative method. A method run at a retraining budget other than "
        "its stage's own is a row of its own: `[full]` retrains for the dense recipe's length with its "
        "learning-rate schedule from the start (and a gradual method prunes across that run), `[like-imp_lr]` for "
        "as many epochs as imp_lr retrains in all at that compression.",
        "",
        "Compression is total / nonzero parameters over the whole model; speedup is dense / nonzero FLOPs, where a "
        "pruned layer's FLOPs scale with its density. An N:M pattern (e.g. `nm_magnitude 2:4`: 2 of every 4 "
        "weights along the input dimension) sits at the compression M / N it stands for; layers whose input size "
        "is not a multiple of M stay dense, so its achieved compression is lower. A channel ratio (e.g. "
        "`l1_filter ch-x2`: half the channels) sits at that ratio; removing a layer's outputs removes the next "
        "one's inputs, so its achieved compression is higher.",
        "",
        "Measured speedup is the dense model's inference "
        "latency over the pruned model's, in its fastest form (`masked`: dense kernels over zeros; `compact`: the "
        "smaller dense model without pruned channels; `csr`: sparse Linear weights), timed on the run's device with "
        "torch.utils.benchmark in "
        f"{ROUNDS} interleaved rounds after a warm-up, each form's latency its fastest round (other load on the "
        "machine only adds time), then the median over seeds (every form's latency and its quartiles over rounds "
        "are in `results.csv`).",
        "",
        "Every case is in `results.csv`, with "
        "which test images each final model got right (`test_correct`, a base64 bitset in test-set order), the "
        "leaderboard row it sits in (`row`) and a checksum of its values (`row_checksum`): the file is a reference "
        "the regression check can read.",
    ]
    for pair, p in agg.groupby("pair"):
        lines += ["", f"## {pair}", "", f"![{pair}]({pair}.png)" if f"{pair}.png" in plots else ""]
        for weights, w in p.groupby("weights"):
            dense = f"{w['dense_top1'].iloc[0] * 100:.2f}"
            device = frame[(frame.pair == pair) & (frame.weights == weights)].latency.iloc[0]
            lines += [
                "", f"### Weights {weights}: top-1 % (dense model: {dense})", "",
                _table(w, _accuracy, dense),
                "", f"### Weights {weights}: achieved compression / theoretical speedup", "",
                _table(w, lambda r: f"{r.compression_achieved:.2f} / {r.speedup:.2f}", ""),
                "", f"### Weights {weights}: measured speedup at batch 1 / at batch {BATCHES[-1]} (fastest form)",
                "", f"The dense model takes {w.dense_latency_ms.median():.3g} ms at batch 1 and "
                    f"{w.dense_latency_ms_b64.median():.3g} ms at batch {BATCHES[-1]} ({device['device']}, "
                    f"{device['threads']} thread{'s' if device['threads'] > 1 else ''}).", "",
                _table(w, lambda r: f"{r.measured_speedup:.2f} {r.latency_form} / {r.measured_speedup_b64:.2f} "
                                    f"{r.latency_form_b64}", ""),
                "", f"### Weights {weights}: training budget (epochs)", "",
                _table(w, lambda r: "unknown" if pd.isna(r.train_epochs) else f"{r.train_epochs:.1f}", ""),
                "", f"### Weights {weights}: top-1 % right after (the last) pruning, before the training that "
                    f"follows", "",
                _table(w, lambda r: f"{r.top1_after_pruning * 100:.2f}", ""),
            ]
    lines += ["", "## Findings", "", *findings(frame, cells, agg, found)]
    return "\n".join(wrapped(lines)).replace("\n\n\n", "\n\n") + "\n"


@dataclass(frozen=True)
class Board:
    """A written leaderboard: where it is, its cases, and their aggregate over seeds."""

    path: Path
    frame: pd.DataFrame
    cells: Cells | None  # None for a language-model sweep
    agg: pd.DataFrame
    n_cases: int
    claims: tuple[Claim, ...] = ()
    leaders: tuple[list, ...] = ()  # setting_leaders' rows, for an image sweep

    @property
    def line(self) -> str:
        return f"leaderboard: {self.path} ({len(self.frame)} of {self.n_cases} cases stored)"


def write_leaderboard(frame: pd.DataFrame, sweep: str, n_cases: int, out: Path) -> Board:
    """Write README.md, results.csv and one plot per pair into `out`."""
    board = Board(out / "README.md", frame, None, pd.DataFrame(), n_cases)
    if frame.empty:
        return board
    if "perplexity" in frame:  # a language-model sweep
        from .language import write

        agg, found = write(frame, sweep, n_cases, out)
        return Board(out / "README.md", frame, None, agg, n_cases, tuple(found))
    raw = frame.assign(row=with_patterns(frame).method)  # results.csv keeps each case's own method name
    frame = with_patterns(frame).sort_values(KEYS + ["seed"]).reset_index(drop=True)
    plots = []
    cells = Cells(frame)
    agg = cells.aggregate()
    for pair, p in agg.groupby("pair"):
        _plot(p, pair, out / f"{pair}.png")
        plots.append(f"{pair}.png")
    found, leaders = claims(frame, cells, agg), setting_leaders(cells, agg)
    raw = raw.sort_values(["pair", "weights", "row", "compression", "seed"]).reset_index(drop=True)
    write_atomic(out / "results.csv", lambda f: f.write(seal(raw).encode()))
    write_atomic(out / "README.md", lambda f: f.write(render(frame, cells, agg, sweep, n_cases, plots, found,
                                                             leaders).encode()))
    return Board(out / "README.md", frame, cells, agg, n_cases, tuple(c for cs in found.values() for c in cs),
                 tuple(leaders))


def rebuild(sweep_name: str, bench_dir: Path, out_root: Path) -> Board:
    """Write the leaderboard of a whole sweep from every case of it found in the store."""
    from ..plan.sweeps import SWEEPS
    from ..run.store import Store

    cases = SWEEPS.get(sweep_name).cases()
    frame = Store(bench_dir / "results").frame(c.hash for c in cases)
    return write_leaderboard(frame, sweep_name, len(cases), out_root / sweep_name)


def write_reference(sweep_name: str, bench_dir: Path, path: Path, **filters: str | None) -> str:
    """Write a reference file for the regression check: the stored cases of the sweep that the filters (those of
    the pytest options: methods, pairs, weights, compressions, seeds) select, each row sealed with its checksum. Every
    selected case must be in the store, at the methods' current versions. Returns what it wrote, in a line."""
    from ..plan.sweeps import select
    from ..run.store import Store

    cases = select(sweep_name, **filters)
    frame = Store(bench_dir / "results").frame(c.hash for c in cases)
    have = set(frame.hash) if not frame.empty else set()
    missing = [c.id for c in cases if c.hash not in have]
    if missing:
        flags = " ".join(f"--{k} '{v}'" for k, v in filters.items() if v)
        raise ValueError(f"the store {bench_dir / 'results'} lacks {len(missing)} of the {len(cases)} cases (e.g. "
                         f"{', '.join(missing[:3])}): compute them first, e.g. pytest --sweep {sweep_name} {flags} "
                         f"--bench-dir {bench_dir}")
    write_atomic(path, lambda f: f.write(seal(frame).encode()))
    versions = frame.groupby("method")["method_version"].first()
    return (f"reference: {path} ({len(frame)} cases of sweep {sweep_name!r}: "
            f"{', '.join(f'{m} version {v}' for m, v in versions.items())})")


def main(argv: list[str] | None = None) -> None:
    """`benchsuite-leaderboard SWEEP`: rebuild a leaderboard from a (shared) store, e.g. after sharded jobs; with
    --reference FILE, write the reference file of a method repository's regression check instead."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="benchsuite-leaderboard", description=main.__doc__)
    parser.add_argument("sweep", help="sweep name, e.g. quick or paper")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCHSUITE_DIR", ".benchsuite"),
                        help="the store's folder (default: .benchsuite or $BENCHSUITE_DIR)")
    parser.add_argument("--leaderboard-dir", default="leaderboard", help="where to write (default: leaderboard)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="PAIR:NAME=PATH@SHA256",
                        help="the --checkpoint options the sweep ran with, so that their cases are found (repeatable)")
    parser.add_argument("--reference", metavar="FILE", help="write a reference file for the regression check "
                        "(--compare-to) holding the stored cases the filters below select, instead of a leaderboard")
    for name in ("methods", "pairs", "weights", "compressions", "seeds"):
        parser.add_argument(f"--{name}", help=f"with --reference: only these {name} (as pytest's --{name})")
    args = parser.parse_args(argv)
    given = [f"--{n}" for n in ("methods", "pairs", "weights", "compressions", "seeds") if getattr(args, n)]
    if given and not args.reference:
        parser.error(f"{', '.join(given)} select the cases of a reference file: they go with --reference FILE (a "
                     f"leaderboard holds every stored case of its sweep)")
    try:
        for spec in args.checkpoint:
            add_checkpoint(spec)
        if args.reference:
            print(write_reference(args.sweep, Path(args.bench_dir), Path(args.reference), methods=args.methods,
                                  pairs=args.pairs, weights=args.weights, compressions=args.compressions,
                                  seeds=args.seeds))
        else:
            print(rebuild(args.sweep, Path(args.bench_dir), Path(args.leaderboard_dir)).line)
    except (KeyError, ValueError) as e:
        parser.error(str(e).strip('"'))
