"""`python -m modelprefetch` runs the CLI."""

from modelprefetch.cli import main

raise SystemExit(main())
