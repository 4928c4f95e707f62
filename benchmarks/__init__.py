"""Benchmarks for skmetric: shared data, peer and reporting helpers."""
