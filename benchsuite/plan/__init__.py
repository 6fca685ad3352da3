"""Pairs, sweeps and cases: pure values that say what to run, never how."""
