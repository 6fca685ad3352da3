"""Whole sweeps through pytest, in a separate process each (pytester)."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import torch
from benchsuite import register_method
from benchsuite.plan.sweeps import SWEEPS, Block, Sweep


@register_method("hostile")
def hostile(ctx):
    """Returns float masks: must fail alone."""
    return {n: torch.ones_like(w) for n, w in ctx.weights.items()}


BLOCK = Block(("mnist5k-lenet300",), ("A",), "global_magnitude,random,hostile", (4,), (0, 1))
SWEEPS.add("tiny", Sweep("tiny", (BLOCK,)))
'''


@pytest.fixture
def sweep_dir(pytester, dense):
    dense("bench", ".benchsuite", "elsewhere", "shared")  # every store these sessions use
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sweep="from benchsuite.testing import test_case  # noqa: F401")
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("--sweep", "tiny", "--bench-dir", "bench", "--prune-rounds", "1",
                                         "-p", "no:randomly", *args)


def test_a_hostile_method_fails_alone_and_the_others_are_stored(sweep_dir):
    result = run(sweep_dir)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*MaskError: method 'hostile': mask for fc1.weight is torch.float32*"])
    assert len(list((sweep_dir.path / "bench" / "results").glob("*.json"))) == 4
    rows = list(csv.DictReader(open(sweep_dir.path / "leaderboard" / "tiny" / "results.csv")))
    assert sorted({r["method"] for r in rows}) == ["global_magnitude", "random"]
    board = (sweep_dir.path / "leaderboard" / "tiny" / "README.md").read_text()
    assert "4 of 6 cases" in board and "hostile" not in board
    result.stdout.fnmatch_lines([  # a progress line per case, then the compact summary
        "[[]1/6[]] *-mnist5k-lenet300-A-x4-s?: top-1 *% (computed in *s); 5 left, * min*",  # and an estimate
        "[[]3/6[]] hostile-mnist5k-lenet300-A-x4-s0: FAILED",
        "*leaderboard: */leaderboard/tiny/README.md (4 of 6 cases stored); 4 of them ran in this session",
        "pair * weights * ratio * best * top-1 % ?95% interval? * seeds * not significantly worse",
        "mnist5k-lenet300 * A * x4 *",
    ])


def test_a_second_run_recomputes_nothing(sweep_dir):
    run(sweep_dir, "--methods", "global_magnitude,random").assert_outcomes(passed=4)
    files = sorted((sweep_dir.path / "bench").rglob("*.*"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    second = run(sweep_dir, "--methods", "global_magnitude,random", "-v")
    second.assert_outcomes(passed=4)
    second.stdout.fnmatch_lines(["*test_case?global_magnitude-mnist5k-lenet300-A-x4-s0? PASSED*"])
    assert sorted((sweep_dir.path / "bench").rglob("*.*")) == files
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # no result rewritten, no model retrained


def test_xdist_loses_nothing_and_writes_the_leaderboard_once(sweep_dir):
    result = run(sweep_dir, "-n", "2", "--methods", "global_magnitude,random")
    result.assert_outcomes(passed=4)
    assert len([line for line in result.outlines if line.startswith("leaderboard:")]) == 1
    rows = list(csv.DictReader(open(sweep_dir.path / "leaderboard" / "tiny" / "results.csv")))
    assert len(rows) == 4
    # pytest-benchmark turns itself off under xdist: the pruning step is still timed, and says how
    assert all(float(r["prune_seconds"]) > 0 and r["prune_timer"] == "perf_counter" for r in rows)


def test_results_from_a_worker_elsewhere_reach_the_controllers_store(sweep_dir):
    """A gateway whose worker keeps its store in another folder stands in for another host."""
    elsewhere = sweep_dir.path / "elsewhere"
    result = sweep_dir.runpytest_subprocess("--sweep", "tiny", "--methods", "global_magnitude", "--prune-rounds", "1",
                                            "--dist", "load", "--tx", f"popen//env:BENCHSUITE_DIR={elsewhere}")
    result.assert_outcomes(passed=2)
    assert len(list((elsewhere / "results").glob("*.json"))) == 2  # the worker's own store
    assert len(list((sweep_dir.path / ".benchsuite" / "results").glob("*.json"))) == 2  # merged into ours
    rows = list(csv.DictReader(open(sweep_dir.path / "leaderboard" / "tiny" / "results.csv")))
    assert len(rows) == 2


def test_methods_without_a_case_in_the_sweep_still_get_the_contract_but_not_an_empty_sweep(sweep_dir):
    sweep_dir.makepyfile(test_contract="from benchsuite.testing import TestContract  # noqa: F401")
    result = run(sweep_dir, "test_contract.py", "--methods", "nm_magnitude", "-k", "unchanged")
    result.assert_outcomes(passed=2)  # an N:M method: the tiny sweep has no case for it, its contract runs
    result = run(sweep_dir, "test_sweep.py", "--methods", "nm_magnitude")
    assert "UsageError: no case of sweep 'tiny' has method in ['nm_magnitude']; it has" in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # the sweep's module does not collect


def test_a_filter_that_matches_nothing_is_a_usage_error(sweep_dir):
    result = run(sweep_dir, "--compressions", "64")
    assert "no case of sweep 'tiny' has compression in [64.0]; it has [4]" in result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_torn_and_a_hand_edited_result_are_named_recomputed_and_the_leaderboard_is_written(sweep_dir):
    run(sweep_dir, "--methods", "global_magnitude").assert_outcomes(passed=2)
    torn, edited = sorted((sweep_dir.path / "bench" / "results").glob("*.json"))
    torn.write_bytes(torn.read_bytes()[:200])  # a copy cut short
    edited.write_text(edited.read_text().replace('"top1": 0.9', '"top1": 0.99', 1))  # a number made better
    result = run(sweep_dir, "--methods", "global_magnitude", "-W", "always")
    result.assert_outcomes(passed=2)
    for path in (torn, edited):
        name = path.relative_to(sweep_dir.path)
        result.stdout.fnmatch_lines([f"*result file {name} is damaged (torn, or edited by hand): it is not used "
                                     f"and its case is computed again; delete the file if this repeats*"])
    result.stdout.fnmatch_lines(["*leaderboard: */leaderboard/tiny/README.md (2 of 6 cases stored)*"])
    assert "computed in" in result.stdout.str() and "from the store" not in result.stdout.str()
    for path in (torn, edited):  # rewritten whole, with its checksum
        assert json.loads(path.read_text())["checksum"]
    rows = list(csv.DictReader(open(sweep_dir.path / "leaderboard" / "tiny" / "results.csv")))
    assert len(rows) == 2 and all(float(r["top1"]) < 0.99 for r in rows)


def test_shards_share_a_store_and_one_command_rebuilds_the_leaderboard(sweep_dir):
    for shard in ("0/2", "1/2"):
        result = sweep_dir.runpytest_subprocess("--sweep", "smoke", "--methods", "global_magnitude,random",
                                                "--shard", shard, "--bench-dir", "shared", "--prune-rounds", "1")
        result.assert_outcomes(passed=1)
    script = Path(sys.executable).parent / "benchsuite-leaderboard"  # the installed console script
    rebuilt = sweep_dir.run(script, "smoke", "--bench-dir", "shared", "--leaderboard-dir", "merged")
    assert rebuilt.ret == 0
    rebuilt.stdout.fnmatch_lines(["leaderboard: merged/smoke/README.md (2 of 8 cases stored)"])
    rows = list(csv.DictReader(open(sweep_dir.path / "merged" / "smoke" / "results.csv")))
    assert sorted(r["method"] for r in rows) == ["global_magnitude", "random"]
