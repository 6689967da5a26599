"""Where `orchard run` takes its prompt from, and the prompts it refuses before anything starts."""

from __future__ import annotations

import pytest

from client.errors import UsageError
from client.prompt import read_prompt
from client.request import PromptSource


def test_a_prompt_file_holding_a_nul_byte_is_refused_naming_its_line(tmp_path):
    """It started a run whose every instance failed 32 s later (no agent can be given a NUL byte)."""
    task = tmp_path / "task.md"
    task.write_bytes(b"fix the bug\nin \x00 parser\n")
    with pytest.raises(UsageError) as err:
        read_prompt(PromptSource("file", path=str(task)))
    assert str(err.value) == f"the prompt from --prompt-file {task} holds a NUL byte (line 2): a prompt is text; is it a binary file?"
    task.write_text("fix the bug\n")
    assert read_prompt(PromptSource("file", path=str(task))) == "fix the bug\n"
