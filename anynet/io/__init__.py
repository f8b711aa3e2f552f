"""Files: atomic writes and checked output paths, the pickle-free npz
container, and checkpoints of networks and runs."""
