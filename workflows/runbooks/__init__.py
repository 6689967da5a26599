"""otters' TOML runbooks, the parts a pipeline run needs at run time: the runbook schema, one
model per table, which reads the TOML as written when the client validates it (model.py,
reading.py), templates, filter expressions, event patterns, input formats and the command-line
grammar of `[command.X] args`. Pure code: workflows import it."""
