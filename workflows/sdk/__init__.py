"""The strategy SDK: the strategy base and its workflow (strategy, runtime), what a strategy
calls (context), the data crossing the workflow boundary (models), errors, parameters, registry.
Strategy authors import from `workflows`."""
