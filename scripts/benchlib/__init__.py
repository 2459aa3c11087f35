"""Helpers of `scripts/bench`: machine facts, statistics, the bench-only worker tasks that touch
the HSM (each in its own process, one SoftHSM home per process), the daemon launcher and the
simulated kiosks and phones."""
