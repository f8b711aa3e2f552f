"""The array shim: the one place that knows concrete array libraries.  A
Backend bundles a namespace (``xp``), a device and a dtype; here are the
devices, moving data to and from them, and the fused kernels a backend may use."""
