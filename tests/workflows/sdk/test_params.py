"""Strategy parameters without a server: variants and their sweeps, files the client reads,
the review strategies' own checks, and the registry composing strategies use."""

from __future__ import annotations

import uuid

import pytest

from client.params import resolve_param_files
from workflows import StrategyError, get_strategy, register_strategy
from workflows.sdk.errors import ConfigError
from workflows.strategies import BUILTIN_STRATEGIES
from workflows.strategies.bug_finding import parse_bug
from workflows.strategies.iterative import parse_findings
from workflows.strategies.variants.config import accepted_settings, expand_variants

MULTI = BUILTIN_STRATEGIES["multi-branch"]


def test_a_sweep_expands_into_the_cartesian_product_with_stable_ids():
    variants = expand_variants([{"id": "deep", "model": ["opus", "sonnet"], "max_turns": [5, 10]}, {"model": "haiku"}])
    assert [v["id"] for v in variants] == [
        "deep(model=opus,max_turns=5)", "deep(model=opus,max_turns=10)",
        "deep(model=sonnet,max_turns=5)", "deep(model=sonnet,max_turns=10)", "model=haiku"]
    assert variants[1] == {"id": "deep(model=opus,max_turns=10)", "model": "opus", "max_turns": 10}
    assert expand_variants(variants) == variants  # the workflow reads the client's expansion back unchanged
    long = expand_variants([{"prompt_prefix": "You are a careful senior engineer who writes tests first."}])
    assert long[0]["id"] == expand_variants([{"prompt_prefix": "You are a careful senior engineer who writes tests first."}])[0]["id"]
    assert long[0]["id"].startswith("variant-")


def test_a_list_field_sweeps_only_as_a_list_of_lists():
    assert [v["cli_args"] for v in expand_variants([{"cli_args": ["--a", "--b"]}])] == [["--a", "--b"]]
    assert [v["cli_args"] for v in expand_variants([{"id": "x", "cli_args": [["--a"], ["--b"]]}])] == [["--a"], ["--b"]]


def test_variant_settings_are_the_task_fields_whatever_they_are():
    assert {"plugin", "model", "agent_command", "system_prompt", "max_turns", "network_egress", "prompt_prefix", "id"} <= set(accepted_settings())


@pytest.mark.parametrize(
    "variants, message",
    [
        ('[{"modle": "x"}]', "variant 1: unknown setting 'modle'; accepted: agent_command,"),
        ('[{"max_turns": 0}]', "variant 'max_turns=0': max_turns: Input should be greater than or equal to 1"),
        ('[{"id": "a"}, {"id": "a", "model": "m"}]', "two variants have the id 'a'"),
        ('[{"model": []}]', "variant 1: a sweep over an empty list"),
        ('["sonnet"]', "variant 1 must be an object of settings"),
        ('[{"prompt_suffix": 3}]', "prompt_suffix must be text"),
        ("[]", "variants is required"),
    ],
)
def test_bad_variants_are_one_line_naming_the_problem(variants, message):
    with pytest.raises(ConfigError) as err:
        MULTI.normalize_params({"variants": variants})
    assert message in str(err.value) and "\n" not in str(err.value)


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


@pytest.mark.parametrize(
    "strategy, params, message",
    [
        ("bug-finding", {}, "target_area is required"),
        ("doc-review", {}, "pages_file is required"),
        ("doc-review", {"pages_file": '[{"title": "A", "path": "a.md"}, {"title": "a", "path": "b.md"}]'}, "pages share the slug 'a'"),
        ("doc-review", {"pages_file": '[{"title": "A"}]'}, "bad value for parameter 'pages_file'"),
        ("iterative", {"iterations": "0"}, "iterations must be at least 1"),
        ("shadow", {"variants": '[{"id": "a"}]', "primary": "b"}, "no variant 'b'; variants: a"),
        ("round-robin", {"variants": '[{"id": "a"}]'}, "experiment is required"),
    ],
)
def test_strategy_checks_are_one_line(strategy, params, message):
    with pytest.raises(ConfigError, match=message):
        BUILTIN_STRATEGIES[strategy].normalize_params(params)


@pytest.mark.parametrize(
    "text, findings",
    [
        ("No findings.", []),
        ("1. Missing test.\n2) Typo in README\n   (line 3).\nOverall fine.", ["Missing test.", "Typo in README (line 3)."]),
        ("Findings:\n  1. Indented works too", ["Indented works too"]),
        ("Looks mostly fine, but the names could be clearer.", None),
        ("", None),
    ],
)
def test_review_findings_are_parsed(text, findings):
    assert parse_findings(text) == findings


def test_bug_reports_are_parsed_leniently():
    bug = parse_bug('I checked.\n{"title": "Crash", "severity": "HIGH", "files": "a.py, b.py"}')
    assert bug is not None and (bug.found, bug.severity, bug.files) == (True, "high", ["a.py", "b.py"])
    nothing = parse_bug('{"found": false}')
    assert nothing is not None and not nothing.found
    assert parse_bug('{"severity": "low"}') is None and parse_bug("no JSON here") is None


def test_strategies_register_once_by_name():
    assert get_strategy("best-of-n") is BUILTIN_STRATEGIES["best-of-n"]
    name = f"mine-{uuid.uuid4().hex[:6]}"
    register_strategy(name, BUILTIN_STRATEGIES["simple"])
    assert get_strategy(name) is BUILTIN_STRATEGIES["simple"]
    with pytest.raises(StrategyError, match=f"strategy '{name}' is already registered"):
        register_strategy(name, BUILTIN_STRATEGIES["simple"])
    with pytest.raises(StrategyError, match="unknown strategy 'nope'; registered: best-of-n, bug-finding,"):
        get_strategy("nope")
