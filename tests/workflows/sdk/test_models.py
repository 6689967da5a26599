"""The models crossing the workflow boundary are complete when imported: a model whose schema is
still pending (a forward reference) fails to serialize where nothing validated it first, e.g. the
input of a continue-as-new in a worker process."""

import pydantic

import workflows.sdk.models as models


def test_every_boundary_model_is_complete_at_import():
    classes = [c for c in vars(models).values() if isinstance(c, type) and issubclass(c, pydantic.BaseModel) and c.__module__ == models.__name__]
    assert classes and [c.__name__ for c in classes if not c.__pydantic_complete__] == []


def test_a_run_s_input_depends_on_no_host(monkeypatch):
    """Its defaults are constants: a workflow decoding an input that left max_parallel out (a run
    started by other code) gets the same value on every host that replays it."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    run = models.RunInput(prompt="p", repo="/r", base_branch="main")
    assert run.max_parallel == models.DEFAULT_MAX_PARALLEL
