"""Benchmarks: each prints medians over N runs and the machine it ran on."""
