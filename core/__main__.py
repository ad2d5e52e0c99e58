"""``python -m core``: the same as the ``kseg`` command."""

from core.cli import main

raise SystemExit(main())
