"""The keyword API: :class:`anynet.Network`, loading and resuming, sweeps,
presets, the cross-backend check and the book's printed lines."""
