"""Benchmarks: each starts its own servers on free loopback ports, stays bounded, reports ratios from one run."""
