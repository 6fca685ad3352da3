"""Start-up cost of the plugin in a test session that does not use benchsuite: an unrelated suite of three trivial
tests, run with the plugin and with it turned off (`-p no:benchsuite`). Compare the two means; the goal is under
0.1 s added."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("plugin", ["with_benchsuite", "without_benchsuite"])
def test_unrelated_session_startup(benchmark, tmp_path, plugin):
    benchmark.group = "start-up of an unrelated pytest session (3 trivial tests)"
    (tmp_path / "test_three.py").write_text("def test_a(): pass\n\n\ndef test_b(): pass\n\n\ndef test_c(): pass\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    if plugin == "without_benchsuite":
        command += ["-p", "no:benchsuite"]
    done = benchmark.pedantic(subprocess.run, args=(command,), kwargs={"cwd": tmp_path, "capture_output": True},
                              rounds=8, warmup_rounds=1)
    assert done.returncode == 0 and b"3 passed" in done.stdout
