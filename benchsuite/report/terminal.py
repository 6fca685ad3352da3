"""The compact summary a sweep session ends with in the terminal: per pair, weights and ratio, the best method with
its 95% interval and the methods not significantly worse (among the cells at that size), or every cell's perplexity
for a language-model sweep, the verdict of every published claim the leaderboard tests, and where the leaderboard
is."""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

from .language import order
from .leaderboard import Board


def summary(board: Board, ran: list[dict[str, Any]]) -> list[str]:
    """Lines to print: the leaderboard's path and what ran, then the leaders of every setting."""
    lines = [f"{board.line}; {len(ran)} of them ran in this session"]
    if board.agg.empty:
        return lines
    if board.cells is None:  # a language-model sweep: every cell's perplexity
        rows = [[r.pair, r.weights, r.compression, r.method, f"{r.perplexity:.2f} [{r.low:.2f}, {r.high:.2f}]", r.n]
                for r in sorted(board.agg.itertuples(), key=lambda r: (r.pair, r.weights, r.method, order(r.compression)))]
        return [*lines, "", *tabulate(rows, headers=["pair", "weights", "sparsity", "method", "perplexity [95% "
                                                     "interval]", "seeds"], tablefmt="simple",
                                      disable_numparse=True).splitlines(), *verdicts(board)]
    table = tabulate(board.leaders, headers=["pair", "weights", "ratio", "best", "top-1 % [95% interval]", "seeds",
                                             "not significantly worse"], tablefmt="simple", disable_numparse=True)
    return [*lines, "", *table.splitlines(), *verdicts(board)]


def verdicts(board: Board) -> list[str]:
    """One line per published claim the leaderboard tests: its verdict and counts."""
    if not board.claims:
        return []
    return ["", "published claims (verdicts; details in the leaderboard's Findings):",
            *(f"  {c.verdict:<12} {c.statement} ({len(c.tally.won)} won, {len(c.tally.lost)} lost, "
              f"{len(c.tally.undecided)} undecided)" for c in board.claims)]
