"""The layers' import rules (pyproject.toml's [tool.importlinter], docs/architecture.md) hold, checked by
import-linter on the tree as it is, and the checker does report a rule that the tree breaks."""

import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def _lint(config: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--config", config, "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    done = _lint("pyproject.toml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and "BROKEN" not in done.stdout


def test_a_broken_rule_is_reported(tmp_path):
    # a rule the tree does break: the rank process imports torch
    config = tmp_path / "contracts.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["bench", "analysis", "models"]
        include_external_packages = true

        [[tool.importlinter.contracts]]
        name = "rank without torch"
        type = "forbidden"
        source_modules = ["bench.rank"]
        forbidden_modules = ["torch"]
    """))
    done = _lint(str(config))
    assert done.returncode == 1 and "rank without torch BROKEN" in done.stdout.replace("\n", " ")
    assert "bench.rank" in done.stdout and "-> torch" in done.stdout


def test_the_torch_free_packages_load_without_torch():
    """What the contracts say statically, at run time: importing these packages' every module loads no torch."""
    code = ("import importlib, pkgutil, sys\n"
            "import bench.config, bench.results, bench.metrics, bench.compare, analysis\n"
            "for package in (bench.config, bench.results, bench.metrics, bench.compare, analysis):\n"
            "    for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
            "        if not info.name.endswith('__main__'):  # a command, not a module\n"
            "            importlib.import_module(info.name)\n"
            "import models.catalog, bench.ops.matrix, bench.rank.pacing\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout[-500:]
