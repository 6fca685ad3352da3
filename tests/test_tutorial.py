"""The tutorial (docs/tutorial.md), run as written: its files are written from its titled code blocks and its shell
commands run in order, in a fresh repository, each session in its own process. Two things differ, both said here:
`pip install -e .` is replaced by the package's metadata on PYTHONPATH (nothing is installed into the test's
environment), and the `quick` sweep is narrowed to two cases per method (`NARROW`), which the tutorial's own
commands accept, so that the test takes seconds instead of minutes."""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial.md"
BLOCK = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```', re.MULTILINE | re.DOTALL)
NARROW = ["--pairs", "mnist5k-lenet300", "--compressions", "4,8", "--seeds", "0"]


def blocks() -> tuple[dict[str, str], list[str], str]:
    """The tutorial's files by title, its shell commands in order, and its prose."""
    text = TUTORIAL.read_text()
    found = BLOCK.findall(text)
    files = {title: body for _, title, body in found if title}
    commands = [line for kind, title, body in found if kind == "bash" for line in body.splitlines() if line.strip()]
    return files, commands, text


def install(root: Path, files: dict[str, str]) -> Path:
    """What `pip install -e .` makes of the tutorial's pyproject.toml: its distribution's metadata with its entry
    points, beside its module, in a folder to put on PYTHONPATH."""
    project = files["pyproject.toml"]
    name, version = (re.search(rf'^{key} = "([^"]+)"', project, re.MULTILINE).group(1) for key in ("name", "version"))
    section = project.split('[project.entry-points."benchsuite.methods"]')[1]
    entries = "\n".join(f"{k} = {v}" for k, v in re.findall(r'^(\S+) = "([^"]+)"', section, re.MULTILINE))
    site = root / "site"
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[benchsuite.methods]\n{entries}\n")
    return site


def test_the_tutorial_runs_as_written_from_an_empty_repository_to_a_failing_gate(pytester, monkeypatch, dense):
    dense(".benchsuite")
    files, commands, text = blocks()
    site = install(pytester.path, files)
    monkeypatch.setenv("PYTHONPATH", str(site))
    (site / "lamp_pruning.py").write_text(files["lamp_pruning.py"])
    (pytester.path / "test_benchsuite.py").write_text(files["test_benchsuite.py"])
    gate = None
    for line in commands:
        words = shlex.split(line)
        if words[0] in ("pip", "git"):
            continue
        if words[0] == "benchsuite-leaderboard":
            result = pytester.run(Path(sys.executable).parent / words[0], *words[1:], *NARROW)
            assert result.ret == 0, result.stderr.str()
            continue
        assert words[0] == "pytest", f"the tutorial runs {line!r}: teach this test what it means"
        result = pytester.runpytest_subprocess(*words[1:], *(NARROW if "quick" in words else []))
        assert result.ret == 0, result.stdout.str()[-3000:]
        gate = words[1:] if any(w.startswith("--compare-to") for w in words) else gate
    passed = re.search(r"^`(benchsuite regression check: passed .*)`", text, re.MULTILINE).group(1)
    assert result.outlines[-1] == passed  # the last command is the gate, and nothing changed

    method, broken = files["lamp_pruning.py"], files["lamp_pruning.py (broken)"].rstrip("\n")
    edited = next(x for x in method.splitlines() if x.strip().startswith(broken.strip().split("(")[0]))
    (site / "lamp_pruning.py").write_text(method.replace(edited, broken))
    failed = pytester.runpytest_subprocess(*gate, *NARROW)
    shown = re.search(r"^(benchsuite regression check: FAILED .*)$", text, re.MULTILINE).group(1)
    shape = re.escape(shown).replace(r"\.\.\.", ".*")
    shape = re.sub(r"(\d+)", r"\\d+", shape)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    assert re.fullmatch(shape, failed.outlines[-1]), (shown, failed.outlines[-1])
