"""The `orchard` command-line client: starts, watches and inspects runs."""
