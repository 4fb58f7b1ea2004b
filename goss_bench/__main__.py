import sys

from goss_bench.cli import main

sys.exit(main())
