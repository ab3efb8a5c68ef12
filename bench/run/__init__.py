"""The run in the pytest process: the session that walks the cases world by world (paced by a layer above where
one asks, bench/rank/pacing.py), its progress (lines in a log, a live bar on a terminal: terminal.py decides), and
the run's own facts (run info)."""
