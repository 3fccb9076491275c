"""Experiments on what weight decay does to weights: unused weights (l2_equilibrium),
factorised nets (factorised_simplicity), scale-invariant nets (rotational_equilibrium),
and published training recipes (real_runs_decay)."""
