"""Where `orchard run` takes its prompt from: the argument, `-` (stdin) or --prompt-file; and the
prompt read from there."""

from __future__ import annotations

import sys
from pathlib import Path

from client.errors import UsageError
from client.request import PromptSource


def prompt_source(argument: str | None, prompt_file: str | None) -> PromptSource:
    """The prompt's source as the command line gives it (exactly one must be given)."""
    if argument is not None and prompt_file is not None:
        raise UsageError("give the prompt once: as the argument, or with --prompt-file, not both")
    if prompt_file is not None:
        return PromptSource("file", path=prompt_file)
    if argument == "-":
        return PromptSource("stdin")
    if argument is not None:
        return PromptSource("argument", text=argument)
    raise UsageError("a prompt is needed: `orchard run \"TASK\"`, `orchard run - < task.md` or `--prompt-file task.md`")


def read_prompt(source: PromptSource) -> str:
    if source.kind == "file":
        path = Path(source.path)
        try:
            prompt = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--prompt-file {path}: {getattr(e, 'strerror', None) or e}") from None
        said = f"--prompt-file {path}"
    elif source.kind == "stdin":
        if sys.stdin.isatty():
            raise UsageError("the prompt `-` is read from stdin: pipe it in (`orchard run - < task.md`), or use --prompt-file")
        prompt, said = sys.stdin.read(), "stdin"
    else:
        prompt, said = source.text, "the argument"
    if not prompt.strip():
        raise UsageError(f"the prompt from {said} is empty")
    if "\0" in prompt:  # no agent can be handed it (an argument, the environment): its instances would fail one by one
        line = prompt.count("\n", 0, prompt.index("\0")) + 1
        raise UsageError(f"the prompt from {said} holds a NUL byte (line {line}): a prompt is text; is it a binary file?")
    return prompt
