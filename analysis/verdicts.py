"""The verdicts a comparison gives (analysis.compare has what each means): a test's, and a case's in the order the
tables and the report list them."""

TEST_VERDICTS = ("regression", "improvement", "unchanged", "inconclusive")
VERDICTS = ("regression", "new failure", "fixed", "improvement", "status changed", "known failure", "inconclusive",
            "unchanged", "new", "missing")
FLAGGING_STATUS_VERDICTS = {"new failure", "fixed"}
