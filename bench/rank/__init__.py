"""The child's side: a rank process's main loop, the measurement loop and its metrics (wall, CPU, I/O,
instructions), simulated ranks. Imports torch; never pytest."""
