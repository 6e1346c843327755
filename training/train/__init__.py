"""The training loop: one step's pieces, devices and DDP, the log, held-out validation."""
