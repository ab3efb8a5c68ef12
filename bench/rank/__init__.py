"""The child's side: a rank process's main loop and its measurement loop (the meters are bench/metrics's), a
simulated rank's fake process group, calibrate's planted slowdown, and the pacing hook a layer above may use
(pacing.py). Imports torch; never pytest."""
