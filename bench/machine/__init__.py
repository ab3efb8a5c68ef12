"""The machine a run is on: its state and noise, its ceilings, memory, thread placement, checkpoint disks, the
launcher's environment, and what its interpreter needs installed (requirements.py)."""
