"""A stored result cannot go stale: editing the code that decides it changes its case's hash, and nothing else
does."""
from __future__ import annotations

import shutil

import pytest

from benchsuite.plan import fingerprint
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import get_pair
from benchsuite.pruning.methods import Method

CASE = Case("mnist5k-lenet300", "A", "global_magnitude", 8, 0)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of the benchsuite package that the fingerprints read instead of the real one."""
    copy = tmp_path / "benchsuite"
    shutil.copytree(fingerprint.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE", copy)
    fingerprint.code_fingerprint.cache_clear()
    yield copy
    fingerprint.code_fingerprint.cache_clear()


def hashes():
    """(the case's hash, its dense model's name), computed afresh."""
    fingerprint.code_fingerprint.cache_clear()
    case = Case(CASE.pair, CASE.weights, CASE.method, CASE.compression, CASE.seed)
    return case.hash, get_pair(case.pair).weights_hash(case.weights)


def edit(path):
    path.write_text(path.read_text() + "\n# edited\n")


@pytest.mark.parametrize("path", ["plugin.py", "report/findings.py", "report/leaderboard.py", "run/store.py",
                                  "testing.py", "plan/sweeps.py"])
def test_editing_code_that_decides_no_number_changes_no_hash(package, path):
    before = hashes()
    edit(package / path)
    assert hashes() == before


def test_a_module_the_runner_never_imports_changes_no_hash_until_it_is_imported(package):
    before = hashes()
    for folder in ("models", "data", "pruning", "run"):
        (package / folder / "another_pair.py").write_text("X = 1\n")
    assert hashes() == before
    runner = package / "run" / "runner.py"
    runner.write_text(runner.read_text().replace("from __future__ import annotations\n",
                                                 "from __future__ import annotations\n\nfrom ..pruning import another_pair\n"))
    imported = hashes()
    assert imported[0] != before[0] and imported[1] == before[1]
    edit(package / "pruning" / "another_pair.py")
    assert hashes()[0] != imported[0]


@pytest.mark.parametrize("path", ["pruning/masks.py", "pruning/masking.py", "run/runner.py", "run/metrics.py"])
def test_editing_the_harness_changes_the_case_hash_but_not_the_dense_model(package, path):
    case, dense = hashes()
    edit(package / path)
    assert hashes()[0] != case and hashes()[1] == dense


@pytest.mark.parametrize("path", ["run/train.py", "data/images.py", "models/lenet.py"])
def test_editing_what_trains_the_dense_model_changes_both(package, path):
    case, dense = hashes()
    edit(package / path)
    assert hashes()[0] != case and hashes()[1] != dense


def test_a_methods_version_covers_its_whole_module_and_what_it_declares(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mine_helpers.py").write_text("def score(w):\n    return w.abs()\n")
    (tmp_path / "mine_method.py").write_text(
        "import mine_helpers\n\n\ndef helper(w):\n    return w\n\n\n"
        "def mine(ctx):\n    return ctx.select_global({n: mine_helpers.score(w) for n, w in ctx.weights.items()})\n")
    import mine_helpers
    import mine_method

    def version():
        return Method("mine", mine_method.mine, depends=(mine_helpers,)).version

    first = version()
    edit(tmp_path / "mine_method.py")  # a change anywhere in the method's module, e.g. in `helper`
    second = version()
    edit(tmp_path / "mine_helpers.py")  # a change in a declared dependency
    assert len({first, second, version()}) == 3
