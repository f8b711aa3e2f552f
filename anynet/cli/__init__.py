"""The command line: ``anynet train | sweep | evaluate | predict | export | check | backends``.

A thin layer over the library: it parses flags, calls anynet and prints.  A
user's mistake (an :class:`anynet.AnynetError`: a bad flag value, missing
data, a damaged checkpoint, an unusable backend, a diverged run; or a file
the system cannot open) ends in one line ``anynet: error: ...`` on stderr and
a non-zero exit status (2 for flags, 1 otherwise).  Anything else is a bug
in anynet and keeps its traceback.
"""

from __future__ import annotations

import sys

from ..errors import AnynetError
from ..io.files import removing_temporaries_on_sigterm
from ..api.presets import PRESETS
from . import check, export, sweep, train, use
from .common import Parser, UsageError, make_request


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(prog="anynet", description="Nielsen's neural network on any array backend.")
    parser.add_argument("--version", action="version", version=f"anynet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.train_parser = train.add_parser(commands)
    parser.sweep_parser = sweep.add_parser(commands)
    use.add_parsers(commands)
    export.add_parsers(commands)
    check.add_parsers(commands)
    parser.commands = commands.choices  # name -> the command's parser
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "preset", None):
            if args.command == "sweep":
                parser.sweep_parser.set_defaults(**_preset_defaults(args.preset, lists=True))
            else:
                parser.train_parser.set_defaults(**_preset_defaults(args.preset))
            args = parser.parse_args(argv)  # flags given on the command line still win
    except UsageError as exc:
        return _fail(exc, status=2)
    except SystemExit as exc:  # --help, --version
        return exc.code or 0
    request = make_request(parser.commands[args.command], args, argv)
    try:
        with removing_temporaries_on_sigterm():  # the one signal handler, restored on return
            return request.run(request)
    except (AnynetError, OSError) as exc:  # OSError: a file the system cannot open or write
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)


# preset key (a Network or SGD keyword) -> train flag's dest
_PRESET_FLAGS = {
    "sizes": "sizes",
    "layers": "layers",
    "cost": "cost",
    "activation": "activation",
    "output_activation": "output_activation",
    "initializer": "init",
    "dtype": "dtype",
    "seed": "seed",
    "epochs": "epochs",
    "mini_batch_size": "batch_size",
    "eta": "eta",
    "lmbda": "lmbda",
    "regularization": "regularization",
    "optimizer": "optimizer",
    "eta_schedule": "eta_schedule",
    "early_stopping": "early_stopping",
    "augment": "augment",
    "validation_split": "validation_split",
}


def _preset_defaults(name, lists=False):
    """The flag defaults a preset sets; ``lists``: for ``anynet sweep``, whose
    --eta, --lmbda and --seeds take lists (a preset's value is a one-item list)."""
    defaults = {_PRESET_FLAGS[key]: value for key, value in PRESETS[name].items()}
    if lists:
        for flag in ("eta", "lmbda"):
            if flag in defaults:
                defaults[flag] = [defaults[flag]]
        if "seed" in defaults:
            defaults["seeds"] = [defaults.pop("seed")]
    return defaults


def _fail(message, status=1) -> int:
    if isinstance(message, OSError) and not isinstance(message, AnynetError) and message.filename and message.strerror:
        message = f"{message.filename}: {message.strerror}"  # not "[Errno 2] ..."
    print(f"anynet: error: {message}", file=sys.stderr)
    return status
