"""Benchmarks: `make bench` runs every `bench/bench_*.py`; `make bench ONLY=api` runs one."""
