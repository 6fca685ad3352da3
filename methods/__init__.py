"""Pruning methods: every module here registers its methods with `benchsuite.register_method` on import."""
