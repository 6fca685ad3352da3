"""One instruction set for the CPU kernels of every run, so that a case gives the same numbers to the bit on any x86
machine. torch picks its vectorised kernels (ATen), its convolutions (oneDNN) and its matrix products (MKL) by what
the CPU offers, and AVX-512 kernels sum in another order than AVX2 ones: unpinned, an AVX-512 machine trained other
dense LeNets from the same seed than an AVX2 one and 202 of the quick sweep's 300 top-1s moved; pinned to AVX2, it
reproduced all 300. Each library reads its variable once, before its first kernel runs, so `pin` must come first;
a variable already in the environment is left as the user set it."""
from __future__ import annotations

import os
import platform

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def pin() -> None:
    """Ask torch's CPU kernels for AVX2 (on x86; elsewhere there is nothing to pin)."""
    if x86():
        for name, value in PINNED.items():
            os.environ.setdefault(name, value)


def check() -> None:
    """Raise if the process asked for AVX2 kernels too late: a torch operation ran before `pin`, so torch chose its
    kernels by the CPU and this process's numbers would differ from other machines' under the same case hash."""
    import torch

    want, have = os.environ.get("ATEN_CPU_CAPABILITY"), torch.backends.cpu.get_cpu_capability()
    if x86() and want == PINNED["ATEN_CPU_CAPABILITY"] and have.lower() != want:
        raise RuntimeError(f"torch runs {have} kernels in this process: a torch operation ran before benchsuite asked "
                           f"for {want} (at its plugin's start or when a test module imports benchsuite.testing), so "
                           f"its results would not reproduce other machines'. Set "
                           f"{' '.join(f'{k}={v}' for k, v in PINNED.items())} in the environment that runs pytest")
