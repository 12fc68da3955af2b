"""`python -m bench`: the throughput benchmark (bench/cli.py)."""
import sys

from bench.cli import main

sys.exit(main())
