"""Subcommands of the lensemble-spec console script (each module has ``register(subparsers)``)."""
