"""``python -m edgepose`` is the same as the ``edgepose`` console script."""

from edgepose.cli import main

raise SystemExit(main())
