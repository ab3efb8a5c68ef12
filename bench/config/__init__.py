"""What a run measures: profiles, the selection from the command line, fault cases, known bugs, memory need.
Runs in the pytest process, before any world starts; no torch. (Which cases exist is bench/ops/matrix.py's.)"""
