"""Reproduction of the paper's figures (Wolf et al., arXiv 2401.16332) from this package's own runs.

``steerbounds paper`` runs the measurement stages (:mod:`.stages`: the sweeps,
HumanEval in the sandbox, the simulator), then draws every figure from the run
folder through the one reduction (:mod:`.data`): Figs. 4-14 and 16 are declared as
data in :mod:`.catalog`; Figs. 1, 2b, 3b and 17 have modules of their own
(``make(data, out_dir)``). :mod:`.report` writes ``report.md``.
"""
