"""Strategy parameters that name files are read by the client, since workflows cannot read files."""

import pytest

from client.params import resolve_param_files
from workflows.sdk.errors import ConfigError
from workflows.strategies import BUILTIN_STRATEGIES

MULTI = BUILTIN_STRATEGIES["multi-branch"]
MULTI = BUILTIN_STRATEGIES["multi-branch"]


def test_files_named_by_parameters_are_read_by_the_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "variants.yaml").write_text("- id: fast\n  model: haiku\n- model: [sonnet, opus]\n")
    (tmp_path / "pages.yml").write_text("- {title: Intro, path: docs/intro.md}\n- {title: API, path: docs/api.md, slug: api}\n")
    params = resolve_param_files(MULTI, {"variants": "@variants.yaml", "verify": "@not-a-file"})
    assert params["verify"] == "@not-a-file"  # text parameters are taken as written
    assert [v["id"] for v in MULTI.normalize_params(params)["variants"]] == ["fast", "model=sonnet", "model=opus"]
    doc_review = BUILTIN_STRATEGIES["doc-review"]
    pages = doc_review.normalize_params(resolve_param_files(doc_review, {"pages_file": "pages.yml"}))["pages_file"]
    assert [(p["slug"], p["path"]) for p in pages] == [("intro", "docs/intro.md"), ("api", "docs/api.md")]
    with pytest.raises(ConfigError, match=r"-S pages_file: cannot read missing.yml: No such file"):
        resolve_param_files(doc_review, {"pages_file": "missing.yml"})
    (tmp_path / "bad.yml").write_text("- [unclosed\n")
    with pytest.raises(ConfigError, match=r"-S variants: bad.yml is not valid YAML or JSON"):
        resolve_param_files(MULTI, {"variants": "@bad.yml"})
