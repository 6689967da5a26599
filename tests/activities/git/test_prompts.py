"""A long prompt travels by reference: a marker with its digest in the history, the prompt itself
a blob in the user's repository, expanded whole wherever a strategy placed the marker."""

from __future__ import annotations

import hashlib

import pytest

from activities.git.prompts import PROMPT_INLINE_BYTES, PromptMissing, by_reference, expanded
from tests.conftest import git


async def test_a_long_prompt_becomes_a_marker_and_comes_back_whole_wherever_it_is_placed(repo):
    assert await by_reference(repo, "short task") == "short task"
    prompt = "Refactor everything.\n" + "x" * PROMPT_INLINE_BYTES + "\n  trailing space and newline \n"
    marker = await by_reference(repo, prompt)
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    assert marker == f"[orchard prompt sha256:{digest}, {len(prompt.encode())} bytes]"
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/orchard/prompts/") == f"refs/orchard/prompts/{digest}"
    assert git(repo, "branch", "--list").split() == ["*", "main"]  # no branch of the user's changes
    assert await expanded(repo, marker) == prompt
    assert await expanded(repo, f"Refine this work.\n\nThe task was:\n{marker}\nDone?") == f"Refine this work.\n\nThe task was:\n{prompt}\nDone?"
    assert await by_reference(repo, prompt) == marker  # the same prompt again: the same blob


async def test_a_marker_whose_prompt_is_missing_or_altered_is_refused(repo):
    marker = await by_reference(repo, "y" * (PROMPT_INLINE_BYTES + 1))
    digest = marker.split("sha256:")[1].split(",")[0]
    other = git(repo, "hash-object", "-w", "--stdin", input="something else")
    git(repo, "update-ref", f"refs/orchard/prompts/{digest}", other)
    with pytest.raises(PromptMissing, match="does not hold the prompt of that digest"):
        await expanded(repo, marker)
    git(repo, "update-ref", "-d", f"refs/orchard/prompts/{digest}")
    with pytest.raises(PromptMissing, match=f"the prompt sha256:{digest} is not in"):
        await expanded(repo, marker)
