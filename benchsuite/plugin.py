"""pytest wiring, opt-in. The plugin loads in every session of an environment that has benchsuite installed, so
it stays out of the way: it imports nothing heavy, builds no sweep and parametrizes nothing until a session uses
it, by asking for `benchsuite_case` or `benchsuite_method` (what `benchsuite.testing` does) or by giving a
benchsuite option on the command line. Its names carry its prefix, so a user's own `case` or `method` is never
touched. The state of a session lives in one `Benchsuite` object per process; only the controlling process (never
an xdist worker) stores reported results, writes the leaderboard and prints the summary."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

RESULT = "benchsuite_result"  # the user property that carries a case's result in its test report
SOURCE = "benchsuite_source"  # and whether it came from the store or was computed
TWINS = "benchsuite_twins"  # in a regression check, the other methods whose masks equal the case's method's
SWEEP_GROUP = "benchsuite: pruning step"  # the pytest-benchmark group of the sweep's pruning steps
DEFAULT_SWEEP = "quick"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("benchsuite", "benchsuite: pruning sweeps")
    g.addoption("--sweep", help=f"named sweep to run: smoke, quick, lifecycle, structure, lm, lm-methods, "
                f"lm-wikitext2, paper (default: {DEFAULT_SWEEP})")
    g.addoption("--methods", help="only these methods (comma-separated glob patterns, e.g. 'global_*,random'); also "
                "narrows the mask contract")
    g.addoption("--pairs", help="only these pairs (comma-separated glob patterns)")
    g.addoption("--weights", help="only these weights (comma-separated names, e.g. A,B)")
    g.addoption("--compressions", help="only these compressions (comma-separated ratios or N:M patterns, e.g. 8,2:4)")
    g.addoption("--seeds", help="only these seeds (comma-separated integers)")
    g.addoption("--bench-dir", help="where dense weights and results are cached (default: ./.benchsuite in the "
                "directory pytest runs from, or $BENCHSUITE_DIR)")
    g.addoption("--leaderboard-dir", help="where leaderboards are written (default: ./leaderboard in the directory "
                "pytest runs from)")
    g.addoption("--data-root", help="folder holding full datasets (MNIST, CIFAR, ImageNet; layout in the README; "
                "default: $BENCHSUITE_DATA)")
    g.addoption("--device", help="cpu, cuda or cuda:N (default: cpu); with cuda and xdist, worker gwK takes GPU K "
                "modulo the number of GPUs")
    g.addoption("--shard", help="I/N: run only every N-th case starting at I (0-based), e.g. one job of N on a "
                "cluster writing to a shared --bench-dir")
    g.addoption("--checkpoint", action="append", metavar="PAIR:NAME=PATH@SHA256",
                help="use a dense checkpoint file (a state_dict) as weights NAME of PAIR; it joins the sweep's "
                "blocks that have PAIR (repeatable)")
    g.addoption("--prune-rounds", type=int, help="timed rounds of a new case's pruning step (default: 1; a stored "
                "case is not pruned again)")
    g.addoption("--case-timeout", type=float, help="fail a sweep case that runs longer than this many seconds (its "
                "method named in the test id), so that a method that hangs stalls nothing else (default: no limit)")
    g.addoption("--show-prune-timings", action="store_true", default=None, help="also print pytest-benchmark's "
                "table of every pruning step of the sweep (always kept in --benchmark-json)")
    g.addoption("--compare-to", help="a reference file (benchsuite-leaderboard SWEEP --methods ... --reference FILE) "
                "or a leaderboard's results.csv: the regression check of the repository's methods (those its "
                "benchsuite.methods entry points register, or --methods) against it (see README, 'Regression check')")
    g.addoption("--reference-method", help="with --compare-to: a floor; every method is also compared with this "
                "method's rows in the reference, changed or not")
    g.addoption("--regression-margin", type=float, help="with --compare-to: fail only on a significant drop larger "
                "than this many points of validation top-1 (default: 0)")
    g.addoption("--changed-only", action="store_true", default=None, help="with --compare-to: run only the methods "
                "that are new or whose source changed since that file was written")
    g.addoption("--sweep-only", action="store_true", default=None, help="run the sweep's cases, not the mask "
                "contract")
    g.addoption("--contract-only", action="store_true", default=None, help="run the mask contract, not the sweep's "
                "cases")


OPTIONS = ("sweep", "methods", "pairs", "weights", "compressions", "seeds", "bench_dir", "leaderboard_dir",
           "data_root", "device", "shard", "checkpoint", "prune_rounds", "show_prune_timings", "compare_to",
           "reference_method", "regression_margin", "changed_only", "sweep_only", "contract_only", "case_timeout")


PATH_OPTIONS = ("--compare-to", "--data-root", "--bench-dir", "--leaderboard-dir")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sweep: a case of the selected pruning sweep (deselect with -m 'not sweep')")
    bench = Benchsuite(config)
    config.pluginmanager.register(bench, Benchsuite.NAME)
    if any(config.getoption(name) is not None for name in OPTIONS):
        from .run.numerics import pin

        pin()  # before xdist starts its workers, which inherit it
        _check_rootdir(config)
        bench.cases()  # asked for on the command line: a typo in a filter stops the session before anything runs


def _check_rootdir(config: pytest.Config) -> None:
    """pytest picks its rootdir (and which conftest.py files load) before plugins add their options, so it takes
    the value of `--compare-to PATH` for a test path. When that moved the rootdir away from here, say so."""
    here, root = config.invocation_params.dir, config.rootpath
    args = list(config.invocation_params.args)
    for flag, value in zip(args, args[1:]):
        path = (here / value).resolve()
        if flag in PATH_OPTIONS and (path == root or root in path.parents) and not (here == root or root in
                                                                                     here.parents):
            raise pytest.UsageError(f"{flag} {value}: pytest read this value as a test path and moved its rootdir to "
                                    f"{root}, so this directory's conftest.py may not load; write {flag}={value}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "benchsuite_method" in names or "benchsuite_case" in names:
        Benchsuite.of(metafunc.config).parametrize(metafunc)


class Benchsuite:
    """One per process: the options, the selected cases (computed on first use), and, in the controlling
    process, the results that reports carry, the leaderboard and the terminal summary."""

    NAME = "benchsuite-session"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.controller = not hasattr(config, "workerinput")
        self._cases: list | None = None
        self.reference = None  # the --compare-to rows, read before the session writes anything
        self.ran: list[dict[str, Any]] = []  # results of the sweep cases that ran, in report order
        self.done = 0  # sweep cases reported, passed or not
        self.started: float | None = None  # when the first reported case began (time.time())
        self.summary: list[str] = []
        self.no_cases = ""  # why --methods leaves the sweep without a case, if it does
        self.verdict = None  # the regression check's, in a session that has one
        self.twins: dict[str, set[str]] = {}  # per method, the methods whose masks equalled its own in every case

    @classmethod
    def of(cls, config: pytest.Config) -> Benchsuite:
        return config.pluginmanager.get_plugin(cls.NAME)

    def option(self, name: str, default: Any = None) -> Any:
        value = self.config.getoption(name)
        return default if value is None else value

    def cases(self) -> list:
        """The sweep's cases narrowed by the command-line filters (computed once per process)."""
        if self._cases is None:
            from .plan.pairs import add_checkpoint
            from .plan.sweeps import NoMethodCases, select

            try:
                for spec in self.option("checkpoint", []):
                    add_checkpoint(spec)
                only = self.scope()
                if self.option("compare_to"):
                    from .report.reference import read
                    from .report.regression import changed_methods

                    self.reference = read(Path(self.option("compare_to")))  # before anything is written
                    if self.option("changed_only"):
                        only = changed_methods(self.reference, only)
                else:
                    for name in ("changed_only", "reference_method", "regression_margin"):
                        if self.option(name) is not None:
                            raise ValueError(f"--{name.replace('_', '-')} belongs to the regression check: it needs "
                                             f"--compare-to REFERENCE")
                if self.option("sweep_only") and self.option("contract_only"):
                    raise ValueError("--sweep-only and --contract-only exclude each other; give one")
                self._cases = select(self.option("sweep", DEFAULT_SWEEP), methods=self.option("methods"),
                                     pairs=self.option("pairs"), weights=self.option("weights"),
                                     compressions=self.option("compressions"), seeds=self.option("seeds"),
                                     shard=self.option("shard"), only_methods=None if only is None else set(only))
                self._check_inputs()
            except NoMethodCases as e:  # fine for the contract alone; parametrizing the sweep says it
                self._cases, self.no_cases = [], str(e)
            except (KeyError, ValueError, FileNotFoundError, ImportError) as e:
                raise pytest.UsageError(str(e).strip('"')) from None
        return self._cases

    def _check_inputs(self) -> None:
        """The device, and the data and checkpoints of the selected cases, once, before anything runs (in the
        controlling process): one message listing every problem stops the session."""
        device = self.option("device", "cpu")
        if not (device in ("cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise ValueError(f"--device {device}: use cpu, cuda or cuda:N (a GPU's index), or mps")
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {device}: no CUDA device is available here; run with --device cpu")
        if self.controller and self._cases and not self.option("contract_only"):
            from .run.checks import problems

            found = problems(self._cases, self.option("data_root"))
            if found:
                raise ValueError("the selected cases cannot run:\n  " + "\n  ".join(found))

    def scope(self) -> list[str] | None:
        """The methods a regression check covers (None without --compare-to): those --methods names, or else those
        the repository registers through its `benchsuite.methods` entry points, never benchsuite's own."""
        if not self.option("compare_to"):
            return None
        from .pruning.methods import get_method, list_methods

        if self.option("methods"):
            return list_methods(self.option("methods"))
        own = [m for m in list_methods() if not get_method(m).fn.__module__.startswith("benchsuite.methods")]
        if not own:
            raise ValueError("--compare-to checks the methods your repository registers through its "
                             "benchsuite.methods entry points, and none is registered; install your package, or name "
                             "the methods to check with --methods")
        return own

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        if "benchsuite_method" in metafunc.fixturenames:
            from .pruning.methods import get_method, list_methods

            try:
                self.cases()  # reads the reference and decides the scope, once
                methods = self.scope() or list_methods(self.option("methods", "*"))
            except KeyError as e:
                raise pytest.UsageError(str(e).strip('"')) from None
            stages = getattr(metafunc.cls, "benchsuite_stages", None) or getattr(  # a test class or module may name
                metafunc.module, "benchsuite_stages", None)  # the stages whose methods it takes
            if stages is not None:
                methods = [m for m in methods if get_method(m).stage in stages]
            kinds = getattr(metafunc.cls, "benchsuite_kinds", None)  # and the targets
            if kinds is not None:
                methods = [m for m in methods if set(get_method(m).kinds) & set(kinds)]
            metafunc.parametrize("benchsuite_method", methods)
        if "benchsuite_case" in metafunc.fixturenames:
            if not self.cases() and self.no_cases:
                raise pytest.UsageError(self.no_cases)
            metafunc.parametrize("benchsuite_case", [pytest.param(c, id=c.id, marks=self._marks(c))
                                                     for c in self.cases()])

    def _marks(self, case) -> list:
        """`sweep`, and for a case of iterative pruning the xdist group of its chain: under `--dist loadgroup`
        the compressions that share levels run in one worker, instead of two workers waiting on each other. A
        case taken from the store is not pruned again, which pytest-benchmark would warn about."""
        from .pruning.methods import get_method
        from .pruning.schedules import Levels
        from .run.stages import chain_key

        marks = [pytest.mark.sweep, pytest.mark.filterwarnings("ignore:Benchmark fixture was not used at all")]
        if self.option("case_timeout"):
            marks.append(pytest.mark.timeout(self.option("case_timeout"), method="signal"))
        if isinstance(get_method(case.method).schedule, Levels) and self.config.pluginmanager.hasplugin("xdist"):
            marks.append(pytest.mark.xdist_group(chain_key(case.spec)))
        return marks

    def here(self) -> Path:
        """The directory pytest runs from: defaults live there, never where a path option points."""
        return self.config.invocation_params.dir

    def bench_dir(self) -> Path:
        return Path(self.option("bench_dir") or os.environ.get("BENCHSUITE_DIR") or self.here() / ".benchsuite")

    def leaderboard_dir(self) -> Path:
        return Path(self.option("leaderboard_dir") or self.here() / "leaderboard")

    def device(self) -> str:
        """The --device, with `cuda` spread over the GPUs by xdist worker number."""
        name = self.option("device", "cpu")
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if name == "cuda" and worker:
            import torch

            if torch.cuda.device_count() > 1:
                return f"cuda:{int(worker.removeprefix('gw')) % torch.cuda.device_count()}"
        return name

    # --- the controlling process

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Store each result a report carries, in the controlling process too: xdist forwards the workers'
        reports, so results from other hosts land in this store; and show one line per case."""
        if not (self.controller and report.when == "call" and "sweep" in report.keywords):
            return
        self.done += 1
        props = dict(report.user_properties)
        result = props.get(RESULT)
        if result is not None:
            from .run.store import Store

            store = Store(self.bench_dir() / "results")
            if store.get(result["hash"]) is None:
                store.put(result)
            self.ran.append(result)
            twins = props.get(TWINS)
            if twins is not None:
                method = result["method"]
                self.twins[method] = self.twins.get(method, set(twins)) & set(twins)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() <= 0:  # verbose runs name each case themselves
            source = "from the store" if props.get(SOURCE) == "store" else f"computed in {report.duration:.1f}s"
            score = "" if result is None else f"perplexity {result['perplexity']:.2f}" if "perplexity" in result \
                else f"top-1 {result['top1'] * 100:.2f}%"
            outcome = f"{score} ({source}){self._left(report.start)}" if result else report.outcome.upper()
            if reporter._tw.width_of_current_line:  # pytest may have ended the line with its progress column
                reporter.write("\n")
            reporter.write(f"[{self.done}/{len(self.cases())}] {report.nodeid.split('[', 1)[-1][:-1]}: {outcome}")

    def _left(self, start: float) -> str:
        """How many cases are left and, at this session's pace so far (workers, stored and computed cases alike),
        about how long they take."""
        now, left = time.time(), len(self.cases()) - self.done
        if self.started is None:
            self.started = start  # the first reported case's start
        if not left:
            return ""
        minutes = (now - self.started) / self.done * left / 60
        return f"; {left} left, about {minutes:.0f} min" if minutes >= 1 else f"; {left} left, under a minute"

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        """In the default verbosity a sweep case prints its own progress line instead of a letter."""
        if report.when == "call" and "sweep" in report.keywords and config.get_verbosity() <= 0:
            return report.outcome, "", report.outcome.upper()
        return None

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list) -> None:
        """Deselect, without a skip line each, the contract's or the sweep's tests where --sweep-only or
        --contract-only says so, and those whose parameter set came out empty (e.g. the post-training contract when
        no post-training method is in scope)."""
        ours = [i for i in items if {"benchsuite_method", "benchsuite_case"} & set(getattr(i, "fixturenames", ()))]
        if not ours:
            return  # a session that does not use benchsuite imports nothing of it
        from .plan.cases import Case

        drop = []
        for item in ours:
            names, params = getattr(item, "fixturenames", ()), getattr(getattr(item, "callspec", None), "params", {})
            if "benchsuite_method" in names and (self.option("sweep_only") or
                                                 not isinstance(params.get("benchsuite_method"), str)):
                drop.append(item)
            elif "benchsuite_case" in names and (self.option("contract_only") or
                                                 not isinstance(params.get("benchsuite_case"), Case)):
                drop.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if item not in drop]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.controller:
            return  # xdist workers write nothing
        if self.ran:
            self._leaderboard()
        if self.reference is not None and not self.option("contract_only"):
            from .report.regression import Verdict, check

            if not self.ran and self.option("changed_only") and not self.cases():
                self.verdict = Verdict(["regression check: every method in scope is unchanged since the reference, so "
                                        "--changed-only ran none (and no floor was compared)"])
                self.summary += self.verdict.lines
                return
            ran = pd_frame([r for r in self.ran if r["method"] in set(self.scope())])
            margin = self.option("regression_margin", 0.0) / 100
            self.verdict = check(ran, self.reference, self.option("reference_method"), margin,
                                 {m: sorted(t) for m, t in self.twins.items()})
            self.summary += self.verdict.lines
            if self.verdict.failed:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _leaderboard(self) -> None:
        """Write the sweep's leaderboard and the terminal summary; a regression check writes none unless
        --leaderboard-dir says where (a repository's CI leaves its tree clean), and never over its reference."""
        from .report.leaderboard import rebuild
        from .report.terminal import summary

        sweep, out = self.option("sweep", DEFAULT_SWEEP), self.leaderboard_dir()
        if self.reference is not None and not self.option("leaderboard_dir"):
            self.summary = ["leaderboard not written: a regression check writes none unless --leaderboard-dir says "
                            "where"]
        elif self.reference is not None and (out / sweep / "results.csv").resolve() == \
                Path(self.option("compare_to")).resolve():
            self.summary = [f"leaderboard not written: {out / sweep} holds the --compare-to reference, which is never "
                            f"overwritten; pass another --leaderboard-dir"]
        else:
            self.summary = summary(rebuild(sweep, self.bench_dir(), out), self.ran)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.summary:
            terminalreporter.write_sep("=", "benchsuite")
            for line in self.summary:
                terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The regression check's verdict is the session's last line, after pytest's own count of tests."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.verdict is not None and reporter is not None:
            reporter.write_line(self.verdict.final, bold=True, red=self.verdict.failed, green=not self.verdict.failed)

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_benchmark_group_stats(self, config: pytest.Config, benchmarks: list, group_by: str):
        """Leave the sweep's pruning steps (hundreds of rows) out of pytest-benchmark's table unless
        --show-prune-timings; --benchmark-json keeps them all."""
        if self.option("show_prune_timings") or not any(b["group"] == SWEEP_GROUP for b in benchmarks):
            return None
        from pytest_benchmark.plugin import pytest_benchmark_group_stats as default

        return default(config=config, benchmarks=[b for b in benchmarks if b["group"] != SWEEP_GROUP],
                       group_by=group_by)


def pd_frame(results: list[dict[str, Any]]):
    """The results as a frame, without their per-layer densities."""
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in r.items() if k != "layer_density"} for r in results])


@pytest.fixture(scope="session")
def benchsuite_runner(pytestconfig: pytest.Config):
    from .run.runner import Runner

    return Runner(*_runner_arguments(pytestconfig))


@pytest.fixture(scope="session")
def benchsuite_language_runner(pytestconfig: pytest.Config):
    from .run.language import LanguageRunner

    return LanguageRunner(*_runner_arguments(pytestconfig))


def _runner_arguments(config: pytest.Config) -> tuple[Path, Path | None, str]:
    """A runner's bench dir, data root and device. On the CPU a process trains and measures on one thread, so that a
    result does not depend on the machine's core count (two threads trained another LeNet here than on another
    machine from the same seed; one thread a process reproduced that machine's results to the bit); `-n N` uses N
    cores. Its kernels are AVX2's on any x86 CPU (`run.numerics`)."""
    from .run.numerics import check, pin

    pin()
    check()
    bench = Benchsuite.of(config)
    root, device = bench.option("data_root"), bench.device()
    if device == "cpu":
        import torch

        torch.set_num_threads(1)
    return bench.bench_dir(), Path(root) if root else None, device


@pytest.fixture(scope="session")
def benchsuite_store(pytestconfig: pytest.Config):
    from .run.store import Store

    return Store(Benchsuite.of(pytestconfig).bench_dir() / "results")


@pytest.fixture(scope="session")
def benchsuite_gate(pytestconfig: pytest.Config) -> bool:
    """Whether the session runs a regression check (--compare-to)."""
    return Benchsuite.of(pytestconfig).option("compare_to") is not None


@pytest.fixture(scope="session")
def benchsuite_rounds(pytestconfig: pytest.Config) -> int:
    return max(1, Benchsuite.of(pytestconfig).option("prune_rounds", 1))

