"""``python -m core``: the same as the ``kseg`` command."""

from core.cli.main import main

raise SystemExit(main())
