"""Steering a model: loading it, finding its blocks, making and saving vectors, injecting them (eq. 2),
batched sweeps over coefficients and the forward-mode slope at r_e = 0."""
