"""What a run measures: profiles, the case matrix, the selection from the command line, known bugs.
Runs in the pytest process, before any world starts."""
