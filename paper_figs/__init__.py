"""Reproduction of the paper's figures (Wolf et al., arXiv 2401.16332) from this package's own runs.

``steerbounds paper`` runs the measurement stages (:mod:`.stages`: E2's sweeps,
HumanEval in the sandbox, the simulator), the fits (:mod:`.fits`), one script per
figure (``figNN.make(run_dir, out_dir)``) and ``report.md`` (:mod:`.report`).
"""

FIGURES = (
    "fig01",
    "fig02b",
    "fig03b",
    "fig04",
    "fig05",
    "fig06",
    "fig07",
    "fig08",
    "fig09",
    "fig10",
    "fig11",
    "fig12",
    "fig13",
    "fig14",
    "fig16",
    "fig17",
)
