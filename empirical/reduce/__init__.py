"""From a finished run to estimates: tidy tables of the records and the one reduction (means, SEMs,
λ, σ, β, Δλ and the Theorem 1/2 fits)."""
