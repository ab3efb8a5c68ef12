"""`python -m bench [pytest options]`: the benchmark, as bench.benchmark_command builds it, in this process (exec,
so that signals and the exit code are pytest's own). Run from the checkout's root."""

import os
import sys

from bench import benchmark_command

command = benchmark_command(sys.argv[1:])
os.execv(command[0], command)
