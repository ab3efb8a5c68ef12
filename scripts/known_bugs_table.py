"""docs/known-bugs.md, from the table in bench/config/known_bugs.py: what a known bug does to a run, and every row.
tests/test_known_bugs.py checks that the doc is this script's output, so the doc cannot drift from the table.

    python scripts/known_bugs_table.py > docs/known-bugs.md
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the suite's packages, run from anywhere

from bench.config.known_bugs import EXTRA_ROWS_ENV, KNOWN_BUGS, SYMPTOMS, KnownBug  # noqa: E402

COMMAND = "python scripts/known_bugs_table.py > docs/known-bugs.md"

WIDTH = 116

INTRO = f"""# Known torch bugs

Generated from the table in `bench/config/known_bugs.py`: edit it there, then rerun
`{COMMAND}`.

Some cases of the matrix fail, or grow, because of a bug in torch itself. Each such bug is a row of the table: the
torch issue, the torch versions it affects (a PEP 440 range on `torch.__version__`; local labels such as `+cpu` are
ignored, pre-releases and dev builds count), the cases it hits (api, op, state-dict type, options, device, least
world size) and its symptom, with the pattern its message matches where there is one.

- The case is matched before it runs, on the run's torch version and device, and still runs.
- Its record keeps torch's own `status` and `message` and gets `known_bug`: the issue, its symptom and versions,
  `reproduced` and a `note` ([result-format.md](result-format.md)).
- The symptom showed: pytest counts the case `xfailed`, which does not fail the run (a healthy run exits 0); the
  summary, `run.status_counts`, the report and the comparisons count it as `xfail`, apart from failures (a compare
  or nightly with it on both sides says `known failure`; one where it is gone says `fixed`, flagged).
- The case ran clean: a strict XPASS that fails the run (exit 1) with `[XPASS(strict)] known torch bug #N (...) no
  longer reproduces on torch X: a fix landed; update bench/config/known_bugs.py`, and an `XPASS:` line in the
  summary. Narrow the row's versions to what was seen, and say so in its evidence.
- The case failed otherwise (another signal, another message): an ordinary failure, its line saying that the bug
  was expected but this failure is not its symptom.

More rows for one run, to try a row before adding it (the suite's tests plant rows this way for their injected
faults): `{EXTRA_ROWS_ENV}=rows.json`, a JSON list of objects with the fields of `KnownBug`; a bad file is
refused in one line before anything runs.

Symptoms:

"""


def _item(text: str) -> str:
    """A list item, wrapped as the other docs are."""
    return textwrap.fill(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False) + "\n"


def _cases(bug: KnownBug) -> str:
    options = ", ".join(f"{k}={v!r}" for k, v in bug.options.items()) or "any options"
    return (f"{bug.api} {bug.op}, {bug.state_dict_type or 'no'} state dict type, {options}, {bug.device}, "
            f"at least {bug.min_world_size} rank{'s' if bug.min_world_size > 1 else ''}")


def section(bug: KnownBug) -> str:
    symptom = bug.symptom + (f", message matching `{bug.message}`" if bug.message else "")
    if bug.growth_at_least is not None:
        symptom += f", growth at least {bug.growth_at_least:g}"
    return (f"\n## [#{bug.number}]({bug.issue})\n\n{textwrap.fill(bug.summary + '.', WIDTH)}\n\n"
            + _item(f"torch versions: `{bug.torch_versions}`") + _item(f"cases: {_cases(bug)}")
            + _item(f"symptom: {symptom}") + _item(f"evidence: {bug.evidence}"))


def main() -> None:
    symptoms = "".join(_item(f"`{name}`: {meaning}") for name, meaning in SYMPTOMS.items())
    sys.stdout.write(INTRO + symptoms + "".join(section(bug) for bug in KNOWN_BUGS))


if __name__ == "__main__":
    main()
