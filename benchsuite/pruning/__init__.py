"""The core of pruning: targets and exact selection, validation, masks held on a model, probes, the method
registry. No pytest and no training in here."""
