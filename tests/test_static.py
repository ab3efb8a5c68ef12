"""A static check that no test of behaviour reaches everywhere: pyflakes finds no undefined name in the suite's code
(a name used but never imported, as when a module is moved and an import left behind, fails only on the path that
uses it)."""

import subprocess
import sys

from tests.conftest import ROOT


def test_no_undefined_names():
    done = subprocess.run([sys.executable, "-m", "pyflakes", "bench", "analysis", "models", "scripts", "tests"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    undefined = [line for line in done.stdout.splitlines() if "undefined name" in line]
    assert not undefined, "\n".join(undefined)
    assert "Traceback" not in done.stderr, done.stderr
