"""The plugin stays out of the way of other test suites, and a method repository runs the contract and the sweep
on its own methods (pytester: each session in a separate process, with benchsuite installed)."""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
import torch
from datafiles import method_package

pytest_plugins = ["pytester"]

FOREIGN = '''
import sys

import pytest


@pytest.fixture
def method():
    return "mine"


@pytest.mark.parametrize("case", [1, 2])
def test_my_own_case_parameter(case):
    assert case in (1, 2)


def test_my_own_method_fixture(method):
    assert method == "mine"


def test_benchsuite_is_loaded_but_imported_nothing_heavy(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("benchsuite")
    assert "torch" not in sys.modules and "benchsuite.plan.sweeps" not in sys.modules
'''


def test_a_foreign_test_suite_with_its_own_case_and_method_passes(pytester):
    pytester.makepyfile(test_theirs=FOREIGN)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_my_own_case_parameter?1? PASSED*", "*test_my_own_method_fixture PASSED*"])
    assert "benchsuite" not in result.stdout.str().split("short test summary")[0].split("PASSED")[-1]
    assert not (pytester.path / ".benchsuite").exists() and not (pytester.path / "leaderboard").exists()


MINE = '''
from benchsuite import register_method


@register_method("smallest_first", target="layer")
def smallest_first(ctx):
    """Keeps the smallest weights of every layer: a poor method, but a correct one."""
    return ctx.select_layerwise({n: -w.abs() for n, w in ctx.weights.items()})


@register_method("leaky")
def leaky(ctx):
    """Hands back one mask as bytes instead of booleans."""
    masks = ctx.select_global({n: w.abs() for n, w in ctx.weights.items()})
    return {**masks, "fc2.weight": masks["fc2.weight"].to(torch.uint8)}
'''.replace("from benchsuite", "import torch\n\nfrom benchsuite")


@pytest.fixture
def method_repository(pytester, monkeypatch, dense):
    dense("bench")
    monkeypatch.setenv("PYTHONPATH", str(method_package(pytester.path, MINE)))
    return pytester


def test_a_method_repository_runs_the_contract_and_the_sweep_on_its_methods(method_repository):
    result = method_repository.runpytest_subprocess("test_benchsuite.py", "--sweep", "smoke", "--methods",
                                                    "smallest_first,leaky", "--bench-dir", "bench",
                                                    "--prune-rounds", "1", "-v", "-p", "no:randomly")
    outcomes = {}  # test id -> PASSED / FAILED, from the verbose lines
    for line in result.outlines:
        if line.startswith("test_benchsuite.py::") and (" PASSED" in line or " FAILED" in line):
            outcomes[line.split(" ")[0]] = "PASSED" if " PASSED" in line else "FAILED"
    mine = {t: o for t, o in outcomes.items() if "smallest_first" in t}
    assert len(mine) > 20 and set(mine.values()) == {"PASSED"}  # the whole contract and the case
    passed = [t for t, o in outcomes.items() if "leaky" in t and o == "PASSED"]
    assert passed == ["test_benchsuite.py::TestContract::test_pruning_leaves_the_model_unchanged[lenet5-leaky]"]
    result.stdout.fnmatch_lines([
        "*TestContract::test_every_prune_event_hits_its_exact_count_and_nests_as_its_schedule_says?lenet5-"
        "smallest_first? PASSED*",
        "*MaskError: method 'leaky': mask for fc2.weight is torch.uint8, not a torch.bool tensor*",
    ])
    assert outcomes["test_benchsuite.py::test_case[smallest_first-mnist5k-lenet300-A-x4-s0]"] == "PASSED"
    assert outcomes["test_benchsuite.py::test_case[leaky-mnist5k-lenet300-A-x4-s0]"] == "FAILED"


@pytest.fixture
def tiny_sweep(pytester, dense):
    dense("bench", ".benchsuite")
    pytester.makeconftest('''
from benchsuite.plan.sweeps import SWEEPS, Block, Sweep

SWEEPS.add("tiny", Sweep("tiny", (Block(("mnist5k-lenet300",), ("A",), "global_magnitude", (4,), (0,)),)))
''')
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    return pytester


def test_the_pruning_step_table_is_shown_only_on_request(tiny_sweep, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # pytest-benchmark turns off in any xdist worker
    plain = tiny_sweep.runpytest_subprocess("--sweep", "tiny", "--bench-dir", "bench", "--prune-rounds", "2")
    plain.assert_outcomes(passed=1)
    assert "benchmark 'benchsuite: pruning step'" not in plain.stdout.str()
    shutil.copytree(tiny_sweep.path / "bench" / "weights", tiny_sweep.path / "again" / "weights")  # the case is new
    shown = tiny_sweep.runpytest_subprocess("--sweep", "tiny", "--bench-dir", "again", "--prune-rounds", "2",
                                            "--show-prune-timings", "--benchmark-json", "timings.json")
    shown.assert_outcomes(passed=1)
    shown.stdout.fnmatch_lines(["*benchmark 'benchsuite: pruning step': 1 tests*"])
    assert "global_magnitude-mnist5k-lenet300-A-x4-s0" in (tiny_sweep.path / "timings.json").read_text()


def test_a_path_option_that_moves_pytests_rootdir_is_a_clear_error(tiny_sweep):
    """pytest takes `--data-root other` for a test path and moves its rootdir into `other` when that holds a
    pytest configuration; then this directory's conftest.py does not load."""
    other = tiny_sweep.path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    moved = tiny_sweep.runpytest_subprocess("test_sweep.py", "--sweep", "tiny", "--data-root", "other")
    assert moved.ret == pytest.ExitCode.USAGE_ERROR
    assert "--data-root other: pytest read this value as a test path and moved its rootdir to " in moved.stderr.str()
    assert "write --data-root=other" in moved.stderr.str()
    fine = tiny_sweep.runpytest_subprocess("test_sweep.py", "--sweep", "tiny", "--data-root=other",
                                           "--prune-rounds", "1")
    fine.assert_outcomes(passed=1)
    assert (tiny_sweep.path / "leaderboard" / "tiny" / "results.csv").is_file()
    assert sorted(p.name for p in other.iterdir()) == ["pyproject.toml"]


def test_the_leaderboard_command_takes_the_sweeps_checkpoints(pytester, dense):
    dense("shared")
    torch.manual_seed(1)
    from benchsuite import get_model
    from benchsuite.files import sha256

    path = pytester.path / "mine.pt"
    torch.save(get_model("lenet300").state_dict(), path)
    spec = f"mnist5k-lenet300:mine={path}@{sha256(path)}"
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    pytester.runpytest_subprocess("--sweep", "smoke", "--methods", "global_magnitude", "--checkpoint", spec,
                                  "--bench-dir", "shared", "--prune-rounds", "1").assert_outcomes(passed=2)
    script = Path(sys.executable).parent / "benchsuite-leaderboard"  # the installed console script
    for name, extra, weights in (("with", ["--checkpoint", spec], ["A", "mine"]), ("without", [], ["A"])):
        rebuilt = pytester.run(script, "smoke", "--bench-dir", "shared", "--leaderboard-dir", name, *extra)
        assert rebuilt.ret == 0
        rows = list(csv.DictReader(open(pytester.path / name / "smoke" / "results.csv")))
        assert sorted(r["weights"] for r in rows) == weights


def test_a_repository_defines_its_own_sweep_and_runs_the_sweep_or_the_contract_alone(pytester, dense):
    dense("bench")
    pytester.makeconftest('''
import benchsuite as bs

bs.add_sweep("mine", bs.Block(("mnist5k-lenet300",), ("A",), "global_magnitude", (50,), (0,)))
''')
    pytester.makepyfile(test_benchsuite="from benchsuite.testing import TestContract  # noqa: F401\n"
                                        "from benchsuite.testing import test_case  # noqa: F401\n")
    sweep = pytester.runpytest_subprocess("--sweep", "mine", "--methods", "global_magnitude", "--sweep-only",
                                          "--prune-rounds", "1", "--bench-dir", "bench")
    outcomes = sweep.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["deselected"] > 0 and "skipped" not in outcomes  # the contract
    assert "[1/1] global_magnitude-mnist5k-lenet300-A-x50-s0: top-1" in sweep.stdout.str()
    contract = pytester.runpytest_subprocess("--sweep", "mine", "--methods", "global_magnitude", "--contract-only",
                                             "--bench-dir", "bench")
    assert contract.ret == 0 and "test_case" not in contract.stdout.str() and "skipped" not in contract.stdout.str()
    narrowed = pytester.runpytest_subprocess("--sweep", "smoke", "--compressions", "50")
    assert narrowed.ret == pytest.ExitCode.USAGE_ERROR
    narrowed.stderr.fnmatch_lines(["*no case of sweep 'smoke' has compression in [[]50.0[]]*define a sweep of your own "
                                   "with benchsuite.add_sweep*"])
