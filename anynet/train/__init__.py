"""Training: THE loop (:func:`anynet.train.fit.fit`), the engines that run an
epoch (a plain loop, JAX's scan, torch.compile), eta schedules and the run
state a checkpoint holds."""
