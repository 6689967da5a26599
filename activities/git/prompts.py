"""Large prompts travel by reference: the run's history (every activity's input holds its task's
prompt) carries a short marker with the prompt's digest, and the prompt itself is a blob in the
user's repository (or pushed to the run's remote), kept alive by the ref refs/orchard/prompts/<sha256>
(not a branch), where every worker that can reach the repository reads it. The agent gets the prompt whole: an activity
expands every marker in its task's prompt, so a strategy that wraps the prompt in its own text
(a refinement, a scorer's question) passes it on by reference too.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from activities.git.command import GitError, git, git_bytes
from workflows.sdk.models import is_remote_repo

PROMPT_INLINE_BYTES = 32 * 1024
"""A prompt longer than this goes by reference."""
PROMPTS_REF = "refs/orchard/prompts/"
MARKER = re.compile(r"\[orchard prompt sha256:([0-9a-f]{64}), ([0-9]+) bytes\]")


class PromptMissing(Exception):
    """A marker names a prompt the repository does not hold."""


async def by_reference(repo: str | Path, prompt: str) -> str:
    """The prompt itself when it is short, else its marker (the prompt stored in `repo`)."""
    data = prompt.encode()
    if len(data) <= PROMPT_INLINE_BYTES:
        return prompt
    digest = hashlib.sha256(data).hexdigest()
    if is_remote_repo(str(repo)):  # pushed from a scratch repository: the workers' mirrors fetch it
        with tempfile.TemporaryDirectory(prefix="orchard-prompt-") as scratch:
            await git("init", "--quiet", "--bare", scratch, cwd=scratch)
            blob = (await git_bytes("hash-object", "-w", "--stdin", cwd=scratch, input=data)).decode().strip()
            await git("push", "--quiet", "--", str(repo), f"{blob}:{PROMPTS_REF}{digest}", cwd=scratch)
    else:
        blob = (await git_bytes("hash-object", "-w", "--stdin", cwd=repo, input=data)).decode().strip()
        await git("update-ref", PROMPTS_REF + digest, blob, cwd=repo)
    return f"[orchard prompt sha256:{digest}, {len(data)} bytes]"


def prompt_refs(text: str) -> list[str]:
    """The refs holding the prompts `text` names by reference."""
    return [PROMPTS_REF + digest for digest in dict.fromkeys(m.group(1) for m in MARKER.finditer(text))]


async def expanded(repo: str | Path, text: str) -> str:
    """`text` with every prompt marker replaced by the prompt it names, checked against its digest."""
    for digest in dict.fromkeys(m.group(1) for m in MARKER.finditer(text)):
        try:
            data = await git_bytes("cat-file", "blob", PROMPTS_REF + digest, cwd=repo)
        except GitError:
            raise PromptMissing(f"the prompt sha256:{digest} is not in {repo} ({PROMPTS_REF}{digest} is missing)") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise PromptMissing(f"{PROMPTS_REF}{digest} in {repo} does not hold the prompt of that digest")
        text = re.sub(rf"\[orchard prompt sha256:{digest}, [0-9]+ bytes\]", _verbatim(data.decode()), text)
    return text


def _verbatim(replacement: str) -> Callable[[re.Match[str]], str]:
    """A replacement for re.sub that is `replacement` as it is (no backslash or group read in it)."""
    return lambda _: replacement
