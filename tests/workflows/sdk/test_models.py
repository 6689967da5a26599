"""The models crossing the workflow boundary are complete when imported: a model whose schema is
still pending (a forward reference) fails to serialize where nothing validated it first, e.g. the
input of a continue-as-new in a worker process."""

import pydantic

import workflows.sdk.models as models


def test_every_boundary_model_is_complete_at_import():
    classes = [c for c in vars(models).values() if isinstance(c, type) and issubclass(c, pydantic.BaseModel) and c.__module__ == models.__name__]
    assert classes and [c.__name__ for c in classes if not c.__pydantic_complete__] == []
