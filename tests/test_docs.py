"""The docs build, strictly, from the code they describe; the README's links lead somewhere; editors see the API."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

import benchsuite
from benchsuite.plugin import OPTIONS
from benchsuite.report.columns import COLUMNS, described

ROOT = Path(__file__).parents[1]


def test_the_docs_build_strictly_with_the_generated_reference(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    methods = (site / "reference" / "methods" / "index.html").read_text()
    assert all(f'id="{name}"' in methods for name in benchsuite.list_methods())
    options = (site / "reference" / "options" / "index.html").read_text()
    assert all("--" + name.replace("_", "-") in options for name in OPTIONS)
    columns = (site / "reference" / "results" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in columns for name in COLUMNS)
    api = (site / "reference" / "api" / "index.html").read_text()
    assert all(f'id="benchsuite.{name}"' in api for name in benchsuite.__all__)


def test_every_column_of_the_committed_leaderboards_is_described_and_nothing_else():
    found = {c for f in (ROOT / "leaderboard").glob("*/results.csv") for c in pd.read_csv(f, nrows=0).columns}
    assert {c for c in found if not described(c)} == set()
    assert {c for c in COLUMNS if c not in found and not c.startswith("density:")} == set()


def test_the_readme_is_a_short_door_whose_links_lead_somewhere():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links and [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []


def test_editors_see_every_public_name_where_it_is_imported_at_run_time():
    tree = ast.parse((ROOT / "benchsuite" / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.name: f"benchsuite.{node.module}" for node in block.body for alias in node.names}
    assert seen == benchsuite._API
