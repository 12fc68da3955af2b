"""Throughput benchmark of the gliner-beam job (see docs/BENCHMARKS.md).
Run ``python -m bench [--quick|--smoke|--full]``."""
