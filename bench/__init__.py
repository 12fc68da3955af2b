"""Throughput benchmark of the gliner-beam job (see bench/run.py and
docs/BENCHMARKS.md). Run ``python -m bench.run [--quick|--smoke|--full]``."""
