"""What the sessions that the tests start in their own processes (pytester) share: the dense LeNet-300s of the
smoke, tiny and quick sweeps, trained once for the whole test run instead of once per session. How a dense model is
trained, stored, checked and shared between processes is tested on its own (test_data_and_weights, test_bad_inputs);
the sessions test what comes after."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PAIR, WEIGHTS = "mnist5k-lenet300", ("A", "B")


@pytest.fixture(scope="session")
def trained_dense(tmp_path_factory) -> Path:
    """A weights store holding them, shared by the xdist workers (the store's lock lets one of them train each)."""
    from benchsuite.data import load_dataset
    from benchsuite.plan.pairs import get_pair
    from benchsuite.run.weights import load_weights

    root = tmp_path_factory.getbasetemp()
    store = (root.parent if "PYTEST_XDIST_WORKER" in os.environ else root) / "dense-weights"
    data = load_dataset("mnist5k")
    for weights in WEIGHTS:
        load_weights(get_pair(PAIR), weights, store, data)
    return store


@pytest.fixture
def dense(trained_dense, pytester):
    """`dense("bench", ...)` puts the trained dense models in those stores of the pytester session's folder, as a
    first session would leave them."""
    def put(*stores: str) -> None:
        for store in stores:
            shutil.copytree(trained_dense, pytester.path / store / "weights", ignore=shutil.ignore_patterns("*.lock"),
                            dirs_exist_ok=True)
    return put


@pytest.fixture(autouse=True)
def lean_sessions(request, monkeypatch):
    """The pytester sessions leave out what they do not test: hypothesis's plugin, which imports hypothesis at the
    end of every session, and compiling every module again in each (bytecode is written once, even where the
    environment says not to write it)."""
    if "pytester" in request.fixturenames:
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
        monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)


def pytest_collection_modifyitems(items):
    """The sessions in their own process first: they are the longest tests, and started early they do not leave one
    xdist worker running the last of them alone (with --dist worksteal the other takes from its queue)."""
    items.sort(key=lambda item: "pytester" not in getattr(item, "fixturenames", ()))
