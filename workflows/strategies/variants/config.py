"""Variants: named sets of agent settings that Spearmint's strategies run and compare.

A variant holds task fields (`plugin`, `model`, `agent_command`, `system_prompt`, `max_turns`,
runner options: any field of TaskDefaults) plus `prompt_prefix`, `prompt_suffix` and an `id`.
A list value is a sweep: the variant expands into one variant per element (the cartesian
product over all list values). Each variant gets a stable id: the given `id`, else one derived
from its settings. Expansion is idempotent, so the client validates and expands once and the
workflow reads the same list back.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError

from workflows.sdk.models import TaskDefaults, first_error
from workflows.sdk.strategy import StrategyConfig

PROMPT_FIELDS = ("prompt_prefix", "prompt_suffix")
DERIVED_ID_LIMIT = 48


def accepted_settings() -> list[str]:
    """Every key a variant may hold: TaskDefaults' fields (so new ones work at once), the prompt
    additions and the id."""
    return sorted([*TaskDefaults.model_fields, *PROMPT_FIELDS, "id"])


def _takes_lists(name: str) -> bool:
    info = TaskDefaults.model_fields.get(name)
    return info is not None and typing.get_origin(info.annotation) is list


def _is_sweep(name: str, value: Any) -> bool:
    """A list sweeps, except the value of a list field (e.g. cli_args), which sweeps as a list of lists."""
    if not isinstance(value, list):
        return False
    return not _takes_lists(name) or all(isinstance(v, list) for v in value)


def _derived_id(settings: dict[str, Any]) -> str:
    shown = ",".join(f"{k}={v}" for k, v in sorted(settings.items()))
    if not shown:
        return "default"
    if len(shown) <= DERIVED_ID_LIMIT and all(isinstance(v, (str, int, float, bool)) for v in settings.values()):
        return shown
    return "variant-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def _check(variant_id: str, settings: dict[str, Any]) -> None:
    for name in PROMPT_FIELDS:
        if not isinstance(settings.get(name, ""), str):
            raise ValueError(f"variant {variant_id!r}: {name} must be text")
    try:
        TaskDefaults.model_validate({k: v for k, v in settings.items() if k not in PROMPT_FIELDS})
    except ValidationError as e:
        where, message = first_error(e)
        raise ValueError(f"variant {variant_id!r}: {where}: {message}") from None


def expand_variants(raw: list[Any]) -> list[dict[str, Any]]:
    """Validated, expanded variants, each a flat dict of settings with its `id`. Raises ValueError."""
    accepted = accepted_settings()
    expanded: list[dict[str, Any]] = []
    for n, variant in enumerate(raw, 1):
        if not isinstance(variant, dict):
            raise ValueError(f"variant {n} must be an object of settings, not {variant!r}")
        unknown = sorted(set(variant) - set(accepted))
        if unknown:
            raise ValueError(f"variant {n}: unknown setting {unknown[0]!r}; accepted: {', '.join(accepted)}")
        given_id = variant.get("id")
        if given_id is not None and (not isinstance(given_id, str) or not given_id.strip()):
            raise ValueError(f"variant {n}: id must be non-empty text")
        settings = {k: v for k, v in variant.items() if k != "id"}
        swept = {k: v for k, v in settings.items() if _is_sweep(k, v)}
        if any(not values for values in swept.values()):
            raise ValueError(f"variant {n}: a sweep over an empty list")
        for combo in itertools.product(*swept.values()):
            point = dict(zip(swept, combo, strict=True))
            one = {**settings, **point}
            if given_id is None:
                variant_id = _derived_id(one)
            elif point:
                variant_id = f"{given_id}({','.join(f'{k}={v}' for k, v in point.items())})"
            else:
                variant_id = given_id
            _check(variant_id, one)
            expanded.append({"id": variant_id, **one})
    ids = [v["id"] for v in expanded]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"two variants have the id {twice[0]!r}; give them distinct ids")
    return expanded


Variants = Annotated[list[Any], AfterValidator(expand_variants)]


@dataclass
class VariantsConfig(StrategyConfig):
    """The knobs every variant strategy shares; `-S variants=@variants.yaml` or a JSON list."""

    variants: Variants = field(default_factory=list)
    verify: str = ""
    verify_timeout: float = 1800.0

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("variants is required: -S variants=@variants.yaml or a JSON list of objects")

    def variant(self, variant_id: str) -> dict[str, Any]:
        found = [v for v in self.variants if v["id"] == variant_id]
        if not found:
            raise ValueError(f"no variant {variant_id!r}; variants: {', '.join(v['id'] for v in self.variants)}")
        return found[0]
