"""``python -m anynet``: the command line of :mod:`anynet.cli`."""

from .cli import main

raise SystemExit(main())
