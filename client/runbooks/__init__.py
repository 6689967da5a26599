"""Runbooks on the client: TOML files parsed (parser.py), turned into runtime types (loader.py),
checked as a whole (validator.py) and found by name (registry.py). Every problem is reported at
once, each with its file and place."""
