"""Fused elementwise kernels: the optional acceleration a backend may choose.

A training step's elementwise chains (a layer's bias add and activation, the
activation's derivative times the error sent back, an optimizer's update of
one array) are written once, as functions of arrays and ``xp``
(``backprop.layer``, ``backprop.backward``, ``optimizers.sgd_update``, ...).
Plain backends run them as they are: one kernel launch per operator on a GPU.
On CuPy, :class:`CupyFuser` traces those very functions with ``cupy.fuse``
into one kernel each, so the fused and the plain paths cannot drift apart.

The calling convention of a fusable function: positional arguments are
arrays or Python numbers (the kernel's inputs); keyword arguments other than
``xp`` are fixed settings (an Activation, a regularisation kind, a flag) that
select a kernel and are part of its cache key.  A function that needs more
than elementwise operations (softmax reduces over a row) is detected while it
is traced and then runs unfused; :attr:`CupyFuser.unfused` lists them.
"""

from __future__ import annotations

import functools


class NotFusable(Exception):
    """Raised while tracing a function that uses an operation cupy.fuse cannot fuse."""


class FusionNamespace:
    """What a fused function sees as ``xp``: the library's ufuncs (which
    cupy.fuse traces) and fusable spellings of the few array API calls that
    are not ufuncs.  Anything else (reductions, array creation) raises
    NotFusable."""

    def __init__(self, library, ufunc_type):
        self._library, self._ufunc_type = library, ufunc_type

    def __getattr__(self, name):
        attribute = getattr(self._library, name, None)
        if isinstance(attribute, self._ufunc_type):
            return attribute
        raise NotFusable(f"xp.{name} is not an elementwise ufunc of {self._library.__name__}")

    def where(self, condition, x1, x2, /):
        return self._library.where(condition, x1, x2)

    # A scalar broadcasts in a fused kernel exactly as a full array of it does,
    # so these give the same numbers as the array API calls they stand for.
    def zeros_like(self, x, /, **_):
        return 0

    def ones_like(self, x, /, **_):
        return 1

    def astype(self, x, dtype, /, *, copy=True, **_):
        return x.astype(dtype)


def tracing(xp) -> bool:
    """True when ``xp`` is the namespace of a function being traced into a
    fused kernel: its values are the kernel's inputs and intermediates, which
    no code may write into, and its ``zeros_like`` is a scalar."""
    return isinstance(xp, FusionNamespace)


class CupyFuser:
    """``fuser(fn)``: ``fn`` with the same signature, run as one CuPy kernel
    traced from ``fn`` itself (one kernel per setting of its keyword
    arguments, traced on first use and cached)."""

    def __init__(self, fuse, namespace):
        self._fuse = fuse
        self._namespace = namespace
        self._kernels = {}  # (fn, settings) -> fused kernel, or None when fn is not fusable
        self._wrappers = {}
        self.unfused = set()  # (function name, settings) that run unfused

    def __call__(self, fn):
        wrapper = self._wrappers.get(fn)
        if wrapper is None:
            wrapper = self._wrappers[fn] = functools.wraps(fn)(functools.partial(self._run, fn))
        return wrapper

    def _run(self, fn, *args, xp, **settings):
        key = (fn, tuple(sorted(settings.items())))
        kernel = self._kernels.get(key, False)
        if kernel is False:
            kernel = self._kernels[key] = self._fuse(kernel_name=_name(fn))(_bound(fn, self._namespace, settings))
            try:
                return kernel(*args)  # the first call traces: an unfusable operation shows here
            except NotFusable:
                kernel = self._kernels[key] = None
                self.unfused.add((fn.__name__, key[1]))
        if kernel is None:
            return fn(*args, xp=xp, **settings)
        return kernel(*args)


def _bound(fn, namespace, settings):
    def traced(*args):
        return fn(*args, xp=namespace, **settings)

    return traced


def _name(fn) -> str:
    return "anynet_" + fn.__name__.strip("_")


@functools.cache
def cupy_fuser() -> CupyFuser:
    """The one CupyFuser of this process (its kernels are compiled once)."""
    import cupy

    return CupyFuser(cupy.fuse, FusionNamespace(cupy, cupy.ufunc))


def fuser_for(name: str):
    """The fuser a backend named ``name`` uses: CuPy's, or None (run the
    shared functions as they are)."""
    return cupy_fuser() if name == "cupy" else None


def fused(fuse, *fns):
    """``fns`` as the backend runs them: fused by ``fuse``, or themselves when it is None."""
    return fns if fuse is None else tuple(fuse(fn) for fn in fns)
