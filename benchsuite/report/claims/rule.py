"""One Claim type and one verdict rule for every claim of every leaderboard.

A claim is a family of paired comparisons, each of a side `a` against a side `b` on the same test images (or held-out
chunks), with a stated test and a quantifier:

- test "beats": a comparison supports the claim when a is significantly better than b, and goes against it when b
  is significantly better;
- test "matches or beats" (margin m): supports when a is significantly better than b - m (non-inferiority), goes
  against when a is significantly worse than b - m;
- test "matches" (margin m): supports when the difference is significantly inside (-m, m) (two one-sided tests),
  goes against when it is significantly outside.

"Significantly" means a one-sided test at 2.5% (the 95% interval of the difference lies on that side), with Holm's
correction over the claim's comparisons, for support and for against each. Comparisons where both sides are at
chance level are left out and counted. A claim's quantifier is "all" (the claim holds for every testable comparison:
"beats") or "some" (it holds for at least one: "can beat"; a comparison against it elsewhere does not refute it, and
is listed). The verdict:

- untestable: no testable comparison;
- reproduced: every testable comparison supports it ("all"), or at least one does ("some");
- mixed ("all" only): some support it and some go against it;
- contradicted: some go against it and none supports it;
- not shown: otherwise (undecided comparisons, or fewer than all supporting an "all" claim).

A claim whose comparisons are facts rather than tests (a layer emptied or not) takes them as decided: True supports,
False goes against, None is undecided.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..stats import ALPHA, at_chance, compare, holm

SHOWN = 10  # list items shown before "and N more"
TESTS = ("beats", "matches or beats", "matches")


@dataclass
class Tally:
    """Outcome of a claim's comparisons: the labels that support it and that go against it (with their difference),
    the undecided ones, and how many were left out at chance level."""

    won: dict[str, float] = field(default_factory=dict)
    lost: dict[str, float] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)
    chance: int = 0

    @property
    def testable(self) -> int:
        return len(self.won) + len(self.lost) + len(self.undecided)

    def counts(self, what: str) -> str:
        chance = f"; {self.chance} left out with both sides at chance level" if self.chance else ""
        return (f"of {self.testable} testable {what}, {len(self.won)} won, {len(self.lost)} lost, "
                f"{len(self.undecided)} undecided{chance}")


Outcomes = np.ndarray | None  # seeds x images (or chunks)


def _p(test: str, c, margin: float) -> tuple[float, float]:
    """One-sided p-values (for the claim, against it) of a comparison under `test`."""
    if test == "beats":
        return c.p_above(0.0), c.p_below(0.0)
    if test == "matches or beats":
        return c.p_above(-margin), c.p_below(-margin)
    return max(c.p_above(-margin), c.p_below(margin)), min(c.p_below(-margin), c.p_above(margin))  # "matches"


def judge(comparisons: Iterable[tuple[str, Outcomes, Outcomes, int | None]], test: str = "beats", margin: float = 0.0,
          proportion: bool = True) -> Tally:
    """Test a against b in each (label, a, b, classes) as `test` says, Holm-corrected together (for and against
    each, one-sided at ALPHA / 2); a missing side is skipped, and so is a comparison with both sides at chance level
    (classes None: outcomes that are not correctness, e.g. log-losses with `proportion=False`)."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; one of {', '.join(TESTS)}")
    tally, tested = Tally(), []
    for label, a, b, classes in comparisons:
        if a is None or b is None:
            continue
        if classes is not None and at_chance(a, classes) and at_chance(b, classes):
            tally.chance += 1
            continue
        c = compare(a, b, proportion)
        tested.append((label, c.difference, *_p(test, c, margin)))
    support = holm([t[2] for t in tested], ALPHA / 2)
    against = holm([t[3] for t in tested], ALPHA / 2)
    for (label, difference, _, _), yes, no in zip(tested, support, against):
        if yes:
            tally.won[label] = difference
        elif no:
            tally.lost[label] = difference
        else:
            tally.undecided.append(label)
    return tally


def decided(facts: Iterable[tuple[str, bool | None]]) -> Tally:
    """A tally of facts: True supports, False goes against, None is undecided."""
    tally = Tally()
    for label, fact in facts:
        if fact is None:
            tally.undecided.append(label)
        else:
            (tally.won if fact else tally.lost)[label] = float("nan")
    return tally


def verdict(tally: Tally, quantifier: str) -> str:
    """The one verdict rule (see the module's docstring)."""
    if quantifier not in ("all", "some"):
        raise ValueError(f"a claim's quantifier is 'all' or 'some', got {quantifier!r}")
    if tally.testable == 0:
        return "untestable"
    if quantifier == "some" and tally.won:
        return "reproduced"
    if tally.won and tally.lost:
        return "mixed"
    if tally.lost:
        return "contradicted"
    return "reproduced" if len(tally.won) == tally.testable else "not shown"


def listed(items: list[str] | dict[str, float], unit: Callable[[float], str] | None = None, sep: str = "; ") -> str:
    """Items (or labels with their difference, as `unit` writes it), the first SHOWN of them and how many more."""
    if isinstance(items, dict):
        items = [label if unit is None or d != d else f"{label} ({unit(d)})" for label, d in items.items()]
    more = f"{sep}and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return sep.join(items[:SHOWN]) + more


def points(d: float) -> str:
    return f"{d * 100:+.2f} pts"


@dataclass
class Claim:
    """A published claim tested on a leaderboard's numbers: `statement` as its `source` states it, the `quantifier`
    ("all" or "some"), and its `tally` (from `judge` or `decided`). `what` names the comparisons (settings, cells),
    `by` the side whose win supports it, `note` what the reader needs (budgets, margins), `group` the pooled claim a
    per-method claim belongs to, `unit` how a difference is written."""

    statement: str
    source: str
    quantifier: str
    tally: Tally
    what: str = "comparisons"
    by: str = ""
    note: str = ""
    group: str = ""
    unit: Callable[[float], str] = points

    @cached_property
    def verdict(self) -> str:
        return verdict(self.tally, self.quantifier)

    def line(self) -> str:
        t = self.tally
        by = f" by {self.by}" if self.by else ""
        note = f" ({self.note})" if self.note else ""
        return (f"**{self.statement}** ({self.source}) — {self.verdict}: {t.counts(self.what)}{by}{note}"
                + (f". Won: {listed(t.won, self.unit)}" if t.won else "")
                + (f". Lost: {listed(t.lost, self.unit)}" if t.lost else "") + ".")


def explanation(units: str) -> str:
    """The verdict rule in a paragraph, for a leaderboard whose comparisons are paired on `units`."""
    return (f"Each claim is a family of paired comparisons on the same {units}. A comparison supports a claim (won) "
            f"when the 95% interval of its difference lies on the claim's side (beyond 0 for \"beats\", above minus "
            f"the stated margin for \"matches or beats\", inside the margin for \"matches\"), and goes against it "
            f"(lost) when it lies on the other side, with Holm's correction over the claim's comparisons. Verdicts: "
            f"reproduced (every testable comparison won; for a claim that something \"can\" happen, at least one, "
            f"losses elsewhere listed), mixed (some won, some lost), contradicted (some lost, none won), not shown (no "
            f"loss, too few wins), "
            f"untestable (nothing to compare here). A claim about several methods gets a verdict per method.")


def render(claims: list[Claim]) -> list[str]:
    """Markdown bullets: a claim alone, or a pooled claim's title with a bullet per method under it."""
    out, groups = [], []
    for claim in claims:
        if not claim.group:
            out.append(f"- {claim.line()}")
            continue
        if claim.group not in groups:
            groups.append(claim.group)
            out.append(f"- {claim.group}, method by method:")
        out.append(f"  - {claim.line()}")
    return out


def table(claims: list[Claim]) -> list[str]:
    """A markdown table of the claims' verdicts with their counts."""
    rows = ["| claim | verdict | won | lost | undecided |", "|:--|:--|--:|--:|--:|"]
    for c in claims:
        rows.append(f"| {c.statement} | {c.verdict} | {len(c.tally.won)} | {len(c.tally.lost)} | "
                    f"{len(c.tally.undecided)} |")
    return rows


def leader(outcomes: dict[str, Outcomes], classes: int | None, proportion: bool = True,
           lower: bool = False) -> tuple[str, list[str]]:
    """The method of highest mean outcome (lowest with `lower`, e.g. log-loss), and the others that are not
    significantly worse than it (Holm together)."""
    outcomes = {m: c for m, c in outcomes.items() if c is not None}
    best = (min if lower else max)(outcomes, key=lambda m: outcomes[m].mean())
    rivals = [m for m in outcomes if m != best]
    pairs = ((m, outcomes[m], outcomes[best]) if lower else (m, outcomes[best], outcomes[m]) for m in rivals)
    tally = judge(((m, a, b, classes) for m, a, b in pairs), proportion=proportion)
    return best, [m for m in rivals if m not in tally.won]
