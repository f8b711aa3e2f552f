"""``anynet check`` (every backend against NumPy) and ``anynet backends``."""

from __future__ import annotations

from ..api import crosscheck
from ..xp.backend import DTYPES
from ..xp.devices import available_backends
from . import common
from .layerspec import parse


def add_parsers(commands):
    check = commands.add_parser("check", help="compare every backend's gradients and training with NumPy's")
    check.add_argument("--backends", type=common.backend_list, help="comma-separated (default: every usable backend)")
    check.add_argument("--dtype", choices=(*DTYPES, "both"), default="float64", help="default: float64")
    check.add_argument("--layers", metavar="SPEC",
                       help="check this network of layers (as train's --layers) instead of the default dense "
                            "and conv nets")
    check.add_argument("--allow-nothing", action="store_true",
                       help="exit 0 even when no backend could be compared (all skipped)")
    check.set_defaults(run=run_check)

    backends = commands.add_parser("backends", help="list the backends, their versions and devices")
    backends.set_defaults(run=run_backends)


def run_check(args) -> int:
    dtypes = DTYPES[::-1] if args.dtype == "both" else (args.dtype,)
    if "float64" in dtypes and (args.backends is None or "jax" in args.backends):
        common.enable_jax_x64()
    layers = parse(args.layers) if args.layers else None  # a bad spec is refused before any backend runs
    for name in crosscheck.networks(layers):
        print(f"{name}: {_network_words(name, args.layers)}")
    results = crosscheck.check(args.backends, dtypes, layers=layers)
    print(crosscheck.format_table(results))
    compared = [r for r in results if r.skipped_reason is None]
    failed = [r for r in compared if not r.ok]
    bounds = "; ".join(
        f"{dtype}: gradients <= {crosscheck.GRAD_RTOL[dtype]:g}, weights after {crosscheck.STEPS} steps "
        f"<= {crosscheck.TRAIN_RTOL[dtype]:g}" for dtype in dtypes
    )
    print(f"compared {len(compared)} of {len(results)} network/backend/device/dtype legs with NumPy "
          f"(max relative difference; {bounds}): {len(failed)} mismatched, {len(results) - len(compared)} skipped")
    if failed:
        return 1
    if not compared:
        print("nothing was compared: every leg was skipped (--allow-nothing accepts that)")
        return 0 if args.allow_nothing else 1
    return 0


def _network_words(name, spec) -> str:
    if name == "dense":
        return f"{list(crosscheck.DENSE)}, sigmoid, quadratic cost, SGD at eta {crosscheck.ETA['dense']:g}"
    return f"{spec or crosscheck.CONV}, SGD at eta {crosscheck.ETA['layers']:g}"


def run_backends(args) -> int:
    rows = [("backend", "version", "devices")]
    for info in available_backends():
        devices = ", ".join(info.devices) if info.usable else f"not usable: {info.reason}"
        rows.append((info.name, info.version or "-", devices))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    return 0
