"""The docs cannot drift from the code: docs/options.md is exactly what scripts/options_table.py prints from
run_bench.sh and bench/plugin/options.py, and the README stays short, with its two commands for a fresh machine."""

import subprocess
import sys

from tests.conftest import ROOT


def test_options_doc_is_the_scripts_output():
    done = subprocess.run([sys.executable, "scripts/options_table.py"], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == (ROOT / "docs" / "options.md").read_bytes(), \
        "docs/options.md is stale: run `python scripts/options_table.py > docs/options.md`"


def _code_block_lines(text: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def test_readme_is_short_and_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    commands = _code_block_lines(readme)
    assert "./run_bench.sh" in commands and "./run_bench.sh test" in commands
