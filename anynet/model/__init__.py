"""The model and its math: layers, activations, costs, initializers and
optimizers as pure functions of arrays and ``xp``; the Model binds them to
parameters on a device.  Nothing here loops over epochs or prints."""
