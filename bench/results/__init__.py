"""The result file: its schema (every field and unit, the version), the one reader, one record per case written
atomically after every case, resume, the summary and the round statistics. No torch; analysis reads it too."""
