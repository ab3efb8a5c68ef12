"""The run in the pytest process: the session that walks the cases world by world, its progress line, and the
turn-taking client that compare mode switches on."""
