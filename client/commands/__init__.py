"""The `orchard` commands, one module each; client/cli.py parses the command line and dispatches."""
