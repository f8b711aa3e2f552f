"""Constant index arrays (a convolution's gathers), built once per
configuration, namespace and device with ``xp`` itself and kept.

A step looks its index up instead of rebuilding it or moving it from the
host.  An array built while a step is traced (JAX's ``jit``) must not
outlive the trace: there the index is built afresh, a constant of the
compiled step.
"""

from __future__ import annotations

import array_api_compat

_CACHE: dict = {}
_LIMIT = 256  # distinct (configuration, namespace, device) keys; a sweep over shapes stays far below


def device_of(array):
    return array_api_compat.device(array)


def cached(xp, like, key, build):
    """``build(xp, device, *key[1:])`` for the device of ``like``, from the cache when it was built before."""
    device = device_of(like)
    if device is None:  # an array being traced (JAX's jit) has none: build a constant of the trace
        return build(xp, device, *key[1:])
    try:
        full = (key, xp.__name__, device)
        hash(full)
    except TypeError:  # a device that cannot be hashed is keyed by its description
        full = (key, xp.__name__, repr(device))
    index = _CACHE.get(full)
    if index is None:
        if len(_CACHE) >= _LIMIT:
            _CACHE.clear()
        index = _CACHE[full] = build(xp, device, *key[1:])
    return index
