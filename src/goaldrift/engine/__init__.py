"""The training engine: ensemble models, tasks, optimiser, training loop, run cache and
sweeps; every experiment chapter trains through it. It knows nothing about chapters."""
