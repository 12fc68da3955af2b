import sys

from bench.scenarios import main

sys.exit(main())
