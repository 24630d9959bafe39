"""Synthetic instances and Monte-Carlo checks of every bound of Wolf et al. (arXiv 2401.16332).

* :mod:`~steerbounds.simulate.instances` -- JAX generators of alignment and helpfulness
  instances and their exact behaviour / helpfulness curves.
* :mod:`~steerbounds.simulate.verdicts` -- does each result of
  :data:`steerbounds.bounds.RESULTS` hold on instances satisfying its assumptions?

The estimators of λ, σ, β, α, ε, Δλ shared with the empirical side live in
:mod:`steerbounds.bounds.estimators`.
"""
