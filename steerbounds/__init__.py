"""steerbounds: the alignment/helpfulness tradeoff of steering, as tested software.

Implements Wolf et al., *Tradeoffs Between Alignment and Helpfulness in Language
Models with Steering Methods* (arXiv 2401.16332):

* :mod:`steerbounds.bounds`    -- every theorem, corollary and variant (JAX + sympy);
* :mod:`steerbounds.simulate`  -- synthetic logits and Monte-Carlo checks of the bounds;
* :mod:`steerbounds.empirical` -- steering vectors, injection and measurement on HF models.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
