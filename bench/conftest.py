"""Where pytest finds the benchmark's plugin: its options and hooks live in bench/plugin/, and pytest looks for
hooks and fixtures by name in this module (bench/test_state_dicts.py is the benchmark itself)."""

from bench.plugin.hooks import (  # noqa: F401
    bench_session,
    pytest_benchmark_update_json,
    pytest_cmdline_main,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_runtest_protocol,
    pytest_runtestloop,
    pytest_sessionfinish,
    pytest_unconfigure,
    save_progress,
)
from bench.plugin.options import pytest_addoption  # noqa: F401
