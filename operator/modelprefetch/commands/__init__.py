"""CLI subcommands, one module each (see modelprefetch.cli)."""
