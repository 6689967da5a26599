"""otters' TOML runbooks, the parts a pipeline run needs at run time: the runtime types the client's
loader produces (model.py), templates, filter expressions, event patterns, input formats and the
command-line grammar of `[command.X] args`. Pure code: workflows import it."""
