"""Grokking experiments: the runs, their measures and phases (grokking_replication,
cleanup_scaling) and ungrokking (ungrokking)."""
