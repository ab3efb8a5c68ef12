"""The pytest plugin: its options and hooks (bench/conftest.py only imports them). Runs in the pytest process."""
