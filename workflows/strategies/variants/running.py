"""Running one variant: its task, its instance, and its row of the comparison table."""

from __future__ import annotations

from typing import Any

from workflows.sdk.context import Context, Handle
from workflows.sdk.errors import InstanceFailed
from workflows.sdk.models import InstanceResult, VariantSummary
from workflows.strategies.variants.config import PROMPT_FIELDS, VariantsConfig


def variant_task(variant: dict[str, Any], prompt: str, base_branch: str, model: str) -> dict[str, Any]:
    """The task of one variant: its settings over the run's, its prompt additions around the prompt."""
    text = "\n\n".join(p for p in (variant.get("prompt_prefix"), prompt, variant.get("prompt_suffix")) if p)
    settings = {k: v for k, v in variant.items() if k not in ("id", *PROMPT_FIELDS)}
    return {"model": model, **settings, "prompt": text, "base_branch": base_branch}


async def start_variant(ctx: Context, cfg: VariantsConfig, prompt: str, base_branch: str, variant: dict[str, Any]) -> Handle:
    return await ctx.run(variant_task(variant, prompt, base_branch, cfg.model), key=ctx.key("variant", variant["id"]))


async def finish_variant(ctx: Context, cfg: VariantsConfig, variant: dict[str, Any], handle: Handle, role: str) -> InstanceResult:
    """The variant's result, verified when `verify` is set, with its row of the comparison table."""
    try:
        result = await ctx.wait(handle)
    except InstanceFailed as failed:
        result = failed.result
    verified: bool | None = None
    if cfg.verify and result.success and result.commit:
        outcome = await ctx.verify(result, cfg.verify, cfg.verify_timeout)
        outcome.record(result)
        verified = outcome.passed
    result.variant = VariantSummary(id=variant["id"], role=role, verified=verified)  # its row of the comparison table: this, and the result's own numbers
    return result
