"""The result file: one record per case, written atomically after every case, read back by resume and
the summary. Runs in the pytest process."""
