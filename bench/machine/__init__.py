"""The machine a run is on: its state and noise, its ceilings, memory, thread placement, checkpoint disks."""
