"""A method repository's regression gate, end to end: a package registering its methods through the
`benchsuite.methods` entry point, a reference made on purpose with `benchsuite-leaderboard --reference`, and the
gate as the README's recipe runs it (pytester: each session in a separate process, with benchsuite installed)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from datafiles import method_package

pytest_plugins = ["pytester"]

LAMP = '''
import torch

from benchsuite import register_method


@register_method("my_lamp")
def my_lamp(ctx):
    """LAMP (Lee et al. 2021): w_u^2 over the sum of w_v^2 of the layer's weights at least as large, then global."""
    scores = {}
    for name, w in ctx.weights.items():
        squares = w.flatten() ** 2
        order = squares.argsort()
        tail = squares[order].flip(0).cumsum(0).flip(0)  # sum over the weights at least as large
        score = torch.empty_like(squares)
        score[order] = squares[order] / tail
        scores[name] = score.view_as(w)
    return ctx.select_global(scores)


@register_method("smallest_first", target="layer")
def smallest_first(ctx):
    """Keeps the smallest weights of every layer: a poor method, but a correct one."""
    return ctx.select_layerwise({n: -w.abs() for n, w in ctx.weights.items()})
'''
BROKEN = LAMP.replace("return ctx.select_global(scores)",
                      "return ctx.select_global({n: -s for n, s in scores.items()})")  # keeps the smallest
REFACTORED = LAMP.replace("tail", "larger")
GATE = ("test_benchsuite.py", "--sweep", "smoke", "--bench-dir", "bench", "--prune-rounds", "1", "--sweep-only",
        "--compare-to=ci/reference.csv")


METHODS = "my_lamp,smallest_first,global_magnitude"  # the repository's two, and the floor


@pytest.fixture
def repository(pytester, monkeypatch, dense):
    """The repository with its reference: the smoke sweep of its methods and of the floor, stored, then sealed."""
    dense("bench")
    site = method_package(pytester.path, LAMP)
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytester.runpytest_subprocess("test_benchsuite.py", "--sweep", "smoke", "--bench-dir", "bench", "--prune-rounds",
                                  "1", "--sweep-only", "--methods", METHODS).assert_outcomes(passed=3)
    sealed = pytester.run(Path(sys.executable).parent / "benchsuite-leaderboard", "smoke", "--methods", METHODS,
                          "--bench-dir", "bench", "--reference", "ci/reference.csv")
    assert sealed.ret == 0 and "reference: ci/reference.csv (3 cases of sweep 'smoke': global_magnitude version" \
        in sealed.stdout.str()
    return pytester, site


def gate(repository, source, *args):
    pytester, site = repository
    (site / "mymethods.py").write_text(source)
    return pytester.runpytest_subprocess(*GATE, *args)


def files(pytester) -> list[str]:
    """The repository's files, but the store, the installed package and the sessions' temporary folders."""
    parts = (p.relative_to(pytester.path).parts for p in pytester.path.rglob("*"))
    return sorted("/".join(q) for q in parts if not {"bench", "site", "__pycache__"} & set(q)
                  and not q[0].startswith("runpytest-"))


def test_the_gate_of_a_method_repository(repository):
    """A floor, a broken method, a refactored one and one edited into another; an unchanged method is not compared
    (test_unchanged_pattern_and_channel_methods_pass_against_the_committed_structure_leaderboard, and the tutorial)."""
    pytester, _ = repository
    before = files(pytester)
    floored = gate(repository, LAMP, "--reference-method", "global_magnitude")
    assert floored.ret == pytest.ExitCode.TESTS_FAILED
    assert floored.outlines[-1].startswith("benchsuite regression check: FAILED (1 of 2 comparisons regressed: "
                                           "smallest_first on mnist5k-lenet300 A x4 vs global_magnitude (floor)")

    broken = gate(repository, BROKEN)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED
    assert broken.outlines[-1].startswith("benchsuite regression check: FAILED (1 of 2 comparisons regressed: my_lamp "
                                          "on mnist5k-lenet300 A x4 vs my_lamp (version ")  # a module is one version
    broken.stdout.fnmatch_lines(["regression check: my_lamp on mnist5k-lenet300 A x4 vs my_lamp (version *): "
                                 "validation top-1 * REGRESSION (Holm at 5%)"])

    refactored = gate(repository, REFACTORED, "--changed-only")
    assert refactored.ret == 0 and refactored.outlines[-1] == (
        "benchsuite regression check: passed (2 comparisons, none regressed)")
    assert "[2/2] smallest_first-mnist5k-lenet300-A-x4-s0" in refactored.stdout.str()  # --changed-only: the changed
    assert "global_magnitude" not in refactored.stdout.str().split("benchsuite ==")[0]  # module's methods alone ran
    assert "warning" not in refactored.stdout.str().lower() and "skipped" not in refactored.stdout.str()

    plain = LAMP.replace("return ctx.select_global(scores)",
                         "return ctx.select_global({n: w.abs() for n, w in ctx.weights.items()})")
    renamed = gate(repository, plain, "--changed-only")  # LAMP's scores squared away: global magnitude's masks
    renamed.stdout.fnmatch_lines(["regression check: my_lamp's masks equal global_magnitude's in every case it ran: it "
                                  "now prunes exactly as global_magnitude does"])
    assert files(pytester) == before  # no leaderboard, nothing written beside the reference


DAMAGES = [
    (lambda lines: [lines[0], lines[1].replace(",A,", ",B,", 1), *lines[2:]],
     "line 2 (*): its checksum does not match its values: it was edited by hand or damaged"),
    (lambda lines: [*lines, lines[1]], "lines 2, 5 are the same case*"),
    (lambda lines: [*lines[:-1], lines[-1][:40]], "line 4: * fields where the header has *: the file is truncated*"),
]


def test_a_damaged_reference_stops_the_gate_with_one_clear_error(repository):
    pytester, _ = repository
    reference = pytester.path / "ci" / "reference.csv"
    good = reference.read_text().splitlines()
    for damage, words in DAMAGES:
        reference.write_text("\n".join(damage(good)) + "\n")
        result = gate(repository, LAMP)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: reference ci/reference.csv*{words}*make one with: "
                                     f"benchsuite-leaderboard*"])
        assert "Traceback" not in result.stderr.str()


def test_unchanged_pattern_and_channel_methods_pass_against_the_committed_structure_leaderboard(pytester, dense):
    dense(".benchsuite")
    reference = Path(__file__).parents[1] / "leaderboard" / "structure" / "results.csv"
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    result = pytester.runpytest_subprocess("--sweep", "structure", "--methods", "nm_magnitude,l1_filter", "--pairs",
                                           "mnist5k-lenet300", "--seeds", "0", "--compressions", "2:4,1:8,ch-x2",
                                           "--prune-rounds", "1", f"--compare-to={reference}")
    assert result.ret == 0, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["regression check: l1_filter is unchanged since the reference *",
                                 "regression check: nm_magnitude is unchanged since the reference *"])
    assert result.outlines[-1] == ("benchsuite regression check: passed (0 comparisons, every method in scope is "
                                   "unchanged since the reference)")
