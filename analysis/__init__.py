"""Turning result files into decisions: load, compare with statistics, trends with change points, charts, a report.

Reads JSON and works on pandas frames; never imports torch, so it runs anywhere the result files are.
`python -m analysis compare|trend|report ...` (see analysis/cli.py).
"""
