"""Compare mode and calibrate: two torch builds measured in turns, in passes, judged by analysis. A layer
above the core: nothing under bench/ imports it."""
