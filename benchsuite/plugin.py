"""pytest wiring: options, markers, parametrization of `method` and `case`, fixtures, the session report."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .plan.cases import Case
from .plan.pairs import PAIRS, add_checkpoint
from .plan.sweeps import SWEEPS, narrow
from .pruning.methods import list_methods
from .run.runner import Runner
from .run.store import Store
from .testing import RESULT

SELECTED = pytest.StashKey[list]()
RAN = pytest.StashKey[list]()
SUMMARY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("benchsuite", "benchsuite: pruning sweeps")
    g.addoption("--sweep", default="quick", help="named sweep to run: smoke, quick, paper (default: quick)")
    g.addoption("--methods", help="only these methods (comma-separated glob patterns, e.g. 'global_*,random')")
    g.addoption("--pairs", help="only these pairs (comma-separated glob patterns)")
    g.addoption("--weights", help="only these weights (comma-separated names, e.g. A,B)")
    g.addoption("--compressions", help="only these compressions (comma-separated numbers)")
    g.addoption("--seeds", help="only these seeds (comma-separated integers)")
    g.addoption("--bench-dir", help="where dense weights and results are cached (default: <rootdir>/.benchsuite, "
                "or $BENCHSUITE_DIR)")
    g.addoption("--leaderboard-dir", help="where leaderboards are written (default: <rootdir>/leaderboard)")
    g.addoption("--data-root", help="folder holding full datasets (MNIST, CIFAR, ImageNet; layout in the README; "
                "default: $BENCHSUITE_DATA)")
    g.addoption("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu); with cuda and xdist, worker "
                "gwK takes GPU K modulo the number of GPUs")
    g.addoption("--shard", help="I/N: run only every N-th case starting at I (0-based), e.g. one job of N on a "
                "cluster writing to a shared --bench-dir")
    g.addoption("--checkpoint", action="append", default=[], metavar="PAIR:NAME=PATH@SHA256",
                help="use a dense checkpoint file (a state_dict) as weights NAME of PAIR; it joins the sweep's "
                "blocks that have PAIR (repeatable)")
    g.addoption("--prune-rounds", type=int, default=3, help="timed rounds of each pruning step (default: 3)")
    g.addoption("--compare-to", help="results.csv of a committed leaderboard: fail when a method that ran is "
                "significantly worse than its reference there (see README, 'Regression check')")
    g.addoption("--reference-method", default="global_magnitude", help="reference for methods that the "
                "--compare-to file does not hold (default: global_magnitude)")
    g.addoption("--changed-only", action="store_true", help="with --compare-to: run only the methods that are new "
                "or whose source changed since that file was written")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sweep: a case of the selected pruning sweep (deselect with -m 'not sweep')")
    config.pluginmanager.register(_CaseCounter(config), "benchsuite-case-counter")
    try:
        for spec in config.getoption("checkpoint"):
            add_checkpoint(spec)
        selected_cases(config)  # a typo in a filter stops the session before anything runs
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise pytest.UsageError(str(e).strip('"')) from None


class _CaseCounter:
    """Counts sweep cases that ran, and stores each result that a report carries, in the controlling process
    too: xdist forwards the workers' reports, so results from other hosts land in this store."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        config.stash[RAN] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and "sweep" in report.keywords:
            self.config.stash[RAN].append(report.nodeid)
            store = Store(bench_dir(self.config) / "results")
            for name, result in report.user_properties:
                if name == RESULT and not store.path(result["hash"]).exists():
                    store.put(result)


def _words(value: str | None, kind=str) -> set | None:
    return None if value is None else {kind(v.strip()) for v in value.split(",") if v.strip()}


def selected_cases(config: pytest.Config) -> list[Case]:
    """The sweep's cases narrowed by the command-line filters (computed once per process)."""
    if SELECTED not in config.stash:
        opt = config.getoption
        sweep = SWEEPS.get(opt("sweep"))
        cases = sweep.cases()
        if opt("methods"):
            cases = narrow(cases, "method", set(list_methods(opt("methods"))), sweep.name)
        if opt("pairs"):
            cases = narrow(cases, "pair", set(PAIRS.names(opt("pairs"))), sweep.name)
        cases = narrow(cases, "weights", _words(opt("weights")), sweep.name)
        cases = narrow(cases, "compression", _words(opt("compressions"), float), sweep.name)
        cases = narrow(cases, "seed", _words(opt("seeds"), int), sweep.name)
        if opt("shard"):
            cases = _shard(cases, opt("shard"))
        if opt("changed_only"):
            from .report.regression import changed_methods
            if not opt("compare_to"):
                raise pytest.UsageError("--changed-only needs --compare-to RESULTS_CSV to know what changed")
            cases = [c for c in cases if c.method in changed_methods(Path(opt("compare_to")))]
        config.stash[SELECTED] = cases
    return config.stash[SELECTED]


def _shard(cases: list[Case], spec: str) -> list[Case]:
    try:
        i, n = (int(v) for v in spec.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise ValueError(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4") from None
    return cases[i::n]


def device(config: pytest.Config) -> str:
    """The --device, with `cuda` spread over the GPUs by xdist worker number."""
    import torch

    name = config.getoption("device")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if name == "cuda" and worker and torch.cuda.device_count() > 1:
        return f"cuda:{int(worker.removeprefix('gw')) % torch.cuda.device_count()}"
    return name


def bench_dir(config: pytest.Config) -> Path:
    return Path(config.getoption("bench_dir") or os.environ.get("BENCHSUITE_DIR") or config.rootpath / ".benchsuite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "method" in metafunc.fixturenames:
        metafunc.parametrize("method", list_methods())
    if "case" in metafunc.fixturenames:
        cases = selected_cases(metafunc.config)
        metafunc.parametrize("case", [pytest.param(c, id=c.id, marks=pytest.mark.sweep) for c in cases])


@pytest.fixture(scope="session")
def benchsuite_runner(pytestconfig: pytest.Config) -> Runner:
    root = pytestconfig.getoption("data_root")
    return Runner(bench_dir(pytestconfig) / "weights", Path(root) if root else None, device(pytestconfig))


@pytest.fixture(scope="session")
def benchsuite_store(pytestconfig: pytest.Config) -> Store:
    return Store(bench_dir(pytestconfig) / "results")


@pytest.fixture(scope="session")
def benchsuite_rounds(pytestconfig: pytest.Config) -> int:
    return max(1, pytestconfig.getoption("prune_rounds"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not config.stash[RAN]:
        return  # xdist workers and sessions that ran no case write nothing
    from .report.leaderboard import rebuild

    leaderboards = Path(config.getoption("leaderboard_dir") or config.rootpath / "leaderboard")
    lines = [rebuild(config.getoption("sweep"), bench_dir(config), leaderboards)]
    if config.getoption("compare_to"):
        from .report.regression import check
        ran = Store(bench_dir(config) / "results").frame(c.hash for c in selected_cases(config))
        verdict = check(ran, Path(config.getoption("compare_to")), config.getoption("reference_method"))
        lines += verdict.lines
        if verdict.failed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[SUMMARY] = lines


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    for line in config.stash.get(SUMMARY, []):
        terminalreporter.write_line(line)
