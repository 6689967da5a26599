"""How runs are found and described in Temporal: Orchard's search attributes (`orchard list`, the
UI's filters) and a run's memo (what `orchard show` and `orchard pending` read without a worker)."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.sdk.models import RunInput

SA_STRATEGY = SearchAttributeKey.for_keyword("OrchardStrategy")
SA_REPO = SearchAttributeKey.for_keyword("OrchardRepo")
SA_OUTCOME = SearchAttributeKey.for_keyword("OrchardOutcome")
"""running, then success | partial | failed | canceled: set at every ending the run's code sees."""
SA_WAITING = SearchAttributeKey.for_bool("OrchardWaiting")
"""True while the run waits for a person (ctx.ask)."""
SA_PIPELINE = SearchAttributeKey.for_keyword("OrchardPipeline")
"""A runbook's pipeline run (`build.build`) or queue worker (`bugfix.worker.fixer`): what it runs."""
SA_WAITS_FOR = SearchAttributeKey.for_keyword_list("OrchardWaitsFor")
"""The event patterns a run waits for now (workflows/sdk/events.py)."""
SEARCH_ATTRIBUTES = (SA_STRATEGY, SA_REPO, SA_OUTCOME, SA_WAITING, SA_PIPELINE, SA_WAITS_FOR)

MEMO_QUESTIONS = "questions"
"""The memo entry listing the open questions of a waiting run."""
MEMO_BUDGET_WAIT = "budget_wait"
"""The memo entry saying which shared budget a run's instances wait for, and until when ({name, until}; None: they do not)."""
MEMO_QUOTA = "quota_until"
"""The memo entry saying until when a run's instances wait for a provider's limit (ISO time; None: they do not)."""


def run_search_attributes(strategy: str, repo: str) -> TypedSearchAttributes:
    """A new run's search attributes: its strategy, its repository, and an outcome of `running`."""
    return TypedSearchAttributes([SearchAttributePair(SA_STRATEGY, strategy), SearchAttributePair(SA_REPO, repo), SearchAttributePair(SA_OUTCOME, "running")])


def run_memo(run_input: RunInput, task_queue: str, prompt: str, parent: str | None = None, modules: list[str] | None = None) -> dict[str, Any]:
    """A new run's memo; `prompt` is the prompt as it may be shown (the client's is redacted)."""
    memo: dict[str, Any] = {
        "prompt": prompt[:500],
        "repo": run_input.repo,
        "base_branch": run_input.base_branch,
        "strategy_spec": run_input.strategy_spec,
        "task_queue": task_queue,
        "params": run_input.params,
        "plugin": run_input.defaults.plugin,
    }
    if parent:
        memo["parent"] = parent
    if modules:
        memo["worker_modules"] = modules  # what its worker imports beside its strategy (a custom loop strategy)
    return memo
