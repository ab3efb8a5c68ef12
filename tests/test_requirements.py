"""What an interpreter lacks, read against pyproject.toml's one list (bench/machine/requirements.py): names parsed,
absent and too-old distributions reported, --check's one line and exit 2."""

import pytest

from bench.machine import requirements


def test_the_list_is_pyprojects():
    listed = requirements.requirements(tests=True)
    assert "torch>=2.4" in listed and "import-linter>=2" in listed
    assert [requirements.distribution(r) for r in ("pytest-benchmark>=4", "torch", "scipy >= 1.10")] == [
        "pytest-benchmark", "torch", "scipy"]


def test_absent_and_too_old_are_missing_and_the_rest_is_not(monkeypatch):
    wanted = ["surely-not-a-distribution-xyz>=1", "pytest>=8", "pytest>=999", "torch>=2.4"]
    monkeypatch.setattr(requirements, "requirements", lambda tests=False: wanted)
    assert requirements.missing() == ["surely-not-a-distribution-xyz>=1", "pytest>=999"]
    assert requirements.missing(without=("pytest",)) == ["surely-not-a-distribution-xyz>=1"]


def test_check_says_what_is_missing_in_one_line_and_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(requirements, "requirements", lambda tests=False: ["surely-not-a-distribution-xyz>=1"])
    assert requirements.main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks surely-not-a-distribution-xyz>=1" in err and "pip install" in err
    monkeypatch.setattr(requirements, "requirements", lambda tests=False: ["pytest>=8"])
    assert requirements.main(["--check"]) == 0 and requirements.main([]) == 0
    assert capsys.readouterr().out == ""


def test_an_unreadable_requirement_is_refused_by_name():
    with pytest.raises(ValueError, match="cannot read the requirement"):
        requirements.distribution(">=1")
