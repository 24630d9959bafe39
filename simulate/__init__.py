"""Synthetic instances and Monte-Carlo checks of every bound of Wolf et al. (arXiv 2401.16332).

* :mod:`~steerbounds.simulate.estimators` -- numpy estimators of λ, σ, β, α, ε, Δλ
  (App. A.3) and the realised quantities of the proofs; shared with the empirical side.
* :mod:`~steerbounds.simulate.instances` -- JAX generators of alignment and helpfulness
  instances and their exact behaviour / helpfulness curves.
* :mod:`~steerbounds.simulate.verdicts` -- does each result of
  :data:`steerbounds.bounds.RESULTS` hold on instances satisfying its assumptions?
"""
