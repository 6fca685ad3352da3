"""The CPU kernels are pinned to AVX2 on x86, and a process that pinned them too late is stopped, not trusted."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchsuite.run.numerics import PINNED, x86

pytestmark = pytest.mark.skipif(not x86(), reason="the pin is for x86 CPUs; elsewhere there is nothing to pin")


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh Python whose environment pins nothing but `env`."""
    env = {**{k: v for k, v in os.environ.items() if k not in PINNED}, **env}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_pinned_before_the_first_kernel_runs_avx2():
    done = run("from benchsuite.run.numerics import pin, check\npin()\nimport torch\n(torch.ones(64) * 2).sum()\n"
               "check()\nprint(torch.backends.cpu.get_cpu_capability())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "AVX2"


def test_a_kernel_before_the_pin_stops_the_runner_with_what_to_set():
    """torch took its kernels at its first operation (here the plain ones, so that this holds on any x86 CPU) and
    AVX2 was asked for after it."""
    done = run("import os, torch\n(torch.ones(64) * 2).sum()\nos.environ['ATEN_CPU_CAPABILITY'] = 'avx2'\n"
               "from benchsuite.run.numerics import check\ncheck()", ATEN_CPU_CAPABILITY="default")
    assert done.returncode != 0
    assert "torch runs DEFAULT kernels" in done.stderr
    assert "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2" in done.stderr


def test_a_users_own_setting_is_kept():
    done = run("from benchsuite.run.numerics import pin, check\npin()\nimport torch\n(torch.ones(64) * 2).sum()\n"
               "check()\nprint(torch.backends.cpu.get_cpu_capability())", ATEN_CPU_CAPABILITY="default")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DEFAULT"
