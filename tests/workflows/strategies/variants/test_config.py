"""Variants: sweeps, stable ids, the settings a variant may hold, and bad variants."""

import pytest

from workflows.sdk.errors import ConfigError
from workflows.strategies import BUILTIN_STRATEGIES
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
