"""Pruning methods, installed as `benchsuite.methods`: every module here registers its methods on import."""
