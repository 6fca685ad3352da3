"""Running cases: training, the weights store, the results store, measurement."""
