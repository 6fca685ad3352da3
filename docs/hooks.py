"""mkdocs hook: the reference pages' tables are generated from the code when the docs are built (a page says
`<!-- generated: NAME -->` where one goes), so that they cannot go stale; an unknown NAME fails the build."""
from __future__ import annotations

import re
from types import SimpleNamespace

from tabulate import tabulate

MARK = re.compile(r"<!-- generated: ([a-z]+) -->")


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def methods() -> str:
    """Every registered method: a table, then each method's docstring (its paper, its defaults, where it differs
    from the reference code)."""
    import benchsuite as bs

    infos = [bs.method_info(name) for name in bs.list_methods()]
    rows = [[f"[`{i['name']}`](#{i['name']})", i["stage"],
             ", ".join(i["target"]) if isinstance(i["target"], tuple) else i["target"], i["schedule"] or "",
             _cell(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in i["hyperparameters"].items()))] for i in infos]
    table = tabulate(rows, ["method", "stage", "target", "schedule", "hyperparameters (defaults)"], tablefmt="github")
    docs = [f"### {i['name']}\n\n```text\n{i['doc']}\n```\n" for i in infos]
    return "\n\n".join([table, *docs])


def options() -> str:
    """The plugin's command-line options, as `pytest --help` shows them."""
    from benchsuite.plugin import pytest_addoption

    class Group(list):
        def addoption(self, *names: str, **kwargs: object) -> None:
            meta = kwargs.get("metavar") or ("" if kwargs.get("action") == "store_true" else names[0][2:].upper())
            self.append([f"`{' '.join([*names, str(meta)]).strip()}`", _cell(kwargs.get("help", ""))])

    group = Group()
    pytest_addoption(SimpleNamespace(getgroup=lambda *_: group))
    return tabulate(group, ["option", "meaning"], tablefmt="github")


def sweeps() -> str:
    """Every named sweep, block by block, with its number of cases."""
    from benchsuite.plan.sweeps import SWEEPS

    out = []
    for name in SWEEPS.names():
        sweep = SWEEPS.get(name)
        rows = [[", ".join(b.pairs), ", ".join(b.weights), f"`{b.methods}`" + (f" ({b.stage})" if b.stage else ""),
                 ", ".join(map(str, b.compressions)), ", ".join(map(str, b.seeds)),
                 ", ".join(f"`{x}`" if x else "stage's own" for x in b.budgets),
                 _cell("; ".join([*(str(h) for h in b.hparams if h), *([f"first seed only: `{b.first_seed_only}`"]
                                                                        if b.first_seed_only else [])]))]
                for b in sweep.blocks]
        out.append(f"### {name}\n\n{len(sweep.cases())} cases.\n\n"
                   + tabulate(rows, ["pairs", "weights", "methods", "compressions", "seeds", "budgets",
                                         "settings"], tablefmt="github"))
    return "\n\n".join(out)


def columns() -> str:
    """Every column of a leaderboard's results.csv, by group."""
    from benchsuite.report.columns import GROUPS

    return "\n\n".join(f"### {group}\n\n" + tabulate([[f"`{k}`", _cell(v)] for k, v in table.items()],
                                                   ["column", "what it holds"], tablefmt="github")
                       for group, table in GROUPS.items())


GENERATORS = {"methods": methods, "options": options, "sweeps": sweeps, "columns": columns}


def on_page_markdown(markdown: str, **_: object) -> str:
    return MARK.sub(lambda m: GENERATORS[m.group(1)](), markdown)
