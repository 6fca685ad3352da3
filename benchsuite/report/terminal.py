"""The compact summary a sweep session ends with in the terminal: per pair and weights, the best method at each
ratio, and where the leaderboard is."""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

from .leaderboard import Board


def summary(board: Board, ran: list[dict[str, Any]]) -> list[str]:
    """Lines to print: what ran, the leaders of every (pair, weights, compression), the leaderboard's path."""
    lines = [f"{board.line}; {len(ran)} of them ran in this session"]
    if board.agg.empty:
        return lines
    rows = []
    for (pair, weights, c), g in board.agg.groupby(["pair", "weights", "compression"]):
        best = g.loc[g.top1.idxmax()]
        rows.append([pair, weights, f"x{c:g}", best.method, f"{best.top1 * 100:.2f} ± {best['std'] * 100:.2f}",
                     f"{best.n}"])
    table = tabulate(rows, headers=["pair", "weights", "ratio", "best method", "top-1 % (± std)", "seeds"],
                     tablefmt="simple", disable_numparse=True)
    return [*lines, "", *table.splitlines()]
