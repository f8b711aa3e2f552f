"""The torch engine: an epoch under ``torch.compile``, opt-in (``compile=True``).

The epoch's full mini-batches run as one compiled graph: the shared step
(:func:`anynet.train.step.make_step`) under ``torch._higher_order_ops.scan``,
each mini-batch gathered from the data inside the loop body, compiled by
inductor with its C++ wrapper, so that no Python and no guard check runs per
step.  The last, partial mini-batch (when ``m`` does not divide ``n``) runs
the same step eagerly, rather than paying for a second compilation.

Measured on a 2-core CPU ([784, 30, 10], mini-batch 10): 0.4 to 0.7x
NumPy's epoch time, against 1.7 to 3.5x for torch's step-by-step loop; but
compiling takes 20 to 30 s (6 to 9 s again from inductor's disk cache) for
each network shape, setting, data size and mini-batch size, so it pays off
after tens of epochs: hence opt-in.  A compiled epoch is kept per
configuration, and a new eta (a 0-d tensor argument) does not compile again.

``scan`` is a prototype API of torch.  When compiling fails (an older or
newer torch, no C++ compiler), training goes on with the step-by-step loop,
whose numbers are the same to rounding, and the reason is logged once per
configuration (logger "anynet.train.engine_torch"; also :attr:`TorchScanEngine.fallbacks`).
Imported only when a torch network trains with ``compile=True``.
"""

from __future__ import annotations

import itertools
import logging
import types
import warnings
from collections import OrderedDict

import torch

from ..model.params import Params
from .engine import LOOP
from .step import StepSpec

logger = logging.getLogger(__name__)

# torch.compile's settings: one graph or an error (never a silent fallback to
# Python per step), static shapes, and the C++ wrapper, which runs the
# compiled loop without Python (measured: 0.6x the epoch time of inductor's
# default Python wrapper).
COMPILE = {"fullgraph": True, "dynamic": False, "options": {"cpp_wrapper": True}}


class TorchScanEngine:
    """Runs an epoch's full mini-batches as one ``torch.compile`` graph (see the module)."""

    name = "torch-scan"

    def __init__(self, compile_options=None, capacity: int = 16):
        self.compile_options = COMPILE if compile_options is None else compile_options
        self.capacity = capacity
        self._programs = OrderedDict()  # configuration -> compiled epoch, least recently used first
        self.fallbacks = {}  # configuration -> why it could not be compiled: it runs the loop
        self._made = itertools.count()

    def epoch(self, spec: StepSpec, backend, params, state, data, indices, *, m, eta, reducer=None, bar=None):
        """As :meth:`anynet.train.engine.LoopEngine.epoch` (``reducer`` is a
        single-process one, which the compiled step does not need)."""
        n = indices.shape[0]
        full = n - n % m
        key = configuration(spec, backend, params, data, m, full // m) if full else None
        if key is not None and key not in self.fallbacks:
            try:
                with _torch_warnings_ignored():
                    params, state = typed(self.program(key, spec, backend)(
                        untyped((params, state)), data.x, data.targets, indices[:full].reshape(-1, m),
                        backend.asarray(eta),
                    ))
            except Exception as exc:  # noqa: BLE001  (compilers fail in many ways; the loop computes the same numbers)
                self._give_up(key, exc)
            else:
                if bar is not None:
                    bar.update(full)
                indices = indices[full:]
        # the partial last mini-batch, or the whole epoch when it could not be compiled
        return LOOP.epoch(spec, backend, params, state, data, indices, m=m, eta=eta, bar=bar)

    def program(self, key, spec: StepSpec, backend):
        """The compiled ``((params, state), x, targets, batches, eta) ->
        (params, state)`` for ``key`` (see :func:`configuration`): made once, then reused."""
        program = self._programs.get(key)
        if program is None:
            epoch = _own_code(scan_epoch(spec.step(backend.xp)), f"anynet_epoch_{next(self._made)}")
            program = self._programs[key] = torch.compile(epoch, **self.compile_options)
            while len(self._programs) > self.capacity:
                self._programs.popitem(last=False)
        self._programs.move_to_end(key)
        return program

    def _give_up(self, key, exc):
        self._programs.pop(key, None)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        self.fallbacks[key] = f"{type(exc).__name__}: {first_line}"
        logger.warning("torch.compile could not compile this epoch (%s); training runs the step-by-step loop",
                       self.fallbacks[key])


def configuration(spec: StepSpec, backend, params, data, m: int, steps: int) -> tuple:
    """What a compiled epoch is specialised to: the step's settings, dtype,
    device, parameter and data shapes, mini-batch size and number of full
    mini-batches."""
    shapes = tuple(tuple(p.weight.shape) for p in params), tuple(data.x.shape[1:]), tuple(data.targets.shape[1:])
    return spec.key(), backend.dtype_name, str(backend.device), shapes, m, steps


def scan_epoch(step):
    """``epoch(carry, x, targets, batches, eta) -> carry``: ``step`` over the
    rows of ``batches`` (one mini-batch's indices a row) by torch's scan."""
    from torch._higher_order_ops.scan import scan

    def epoch(carry, x, targets, batches, eta):
        def body(carry, ids):
            params, state = typed(carry)
            carry = step(params, state, torch.index_select(x, 0, ids), torch.index_select(targets, 0, ids), eta)
            return untyped(carry), ids.new_zeros(())  # scan wants a tensor out of every step

        return scan(body, carry, batches)[0]

    return epoch


def untyped(tree):
    """``tree`` (the carry: tuples, lists and dicts of tensors) with every
    :class:`~anynet.model.params.Params` as a plain tuple: the body of
    torch's scan may return tuples, lists and dicts of tensors only."""
    if isinstance(tree, (tuple, list)):
        items = [untyped(item) for item in tree]
        return items if isinstance(tree, list) else tuple(items)
    if isinstance(tree, dict):
        return {key: untyped(value) for key, value in tree.items()}
    return tree


def typed(tree):
    """The inverse of :func:`untyped`: in the carry, every list's pairs
    (parameters, optimizer moments) are Params again."""
    if isinstance(tree, list):
        return [Params(*typed(item)) if isinstance(item, tuple) else typed(item) for item in tree]
    if isinstance(tree, tuple):
        return tuple(typed(item) for item in tree)
    if isinstance(tree, dict):
        return {key: typed(value) for key, value in tree.items()}
    return tree


def _own_code(function, name):
    """``function`` with a code object of its own.  Dynamo keeps compiled
    graphs on the code object and stops compiling one after 8 versions
    (torch._dynamo.config.recompile_limit); every configuration would be a
    version of the one ``epoch`` code otherwise."""
    code = function.__code__.replace(co_name=name)
    return types.FunctionType(code, function.__globals__, name, function.__defaults__, function.__closure__)


class _torch_warnings_ignored(warnings.catch_warnings):
    """torch's own deprecation notices while it compiles (torch.jit inside
    inductor), which ``-W error`` would turn into a failed compilation."""

    def __enter__(self):
        result = super().__enter__()
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"torch(\.|$)")
        return result


ENGINE = TorchScanEngine()
