"""Runbooks on the client: TOML files read, each table validated into its model of
workflows/runbooks/model.py (parser.py), checked as a whole (validator.py) and found by name
(registry.py). Every problem is reported at once, each with its file and place."""
