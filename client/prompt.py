"""Where `orchard run` takes its prompt from: the argument, `-` (stdin) or --prompt-file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.errors import UsageError


def read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None and args.prompt_file is not None:
        raise UsageError("give the prompt once: as the argument, or with --prompt-file, not both")
    if args.prompt_file is not None:
        path = Path(args.prompt_file)
        try:
            prompt = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--prompt-file {path}: {getattr(e, 'strerror', None) or e}") from None
        source = f"--prompt-file {path}"
    elif args.prompt == "-":
        if sys.stdin.isatty():
            raise UsageError("the prompt `-` is read from stdin: pipe it in (`orchard run - < task.md`), or use --prompt-file")
        prompt, source = sys.stdin.read(), "stdin"
    elif args.prompt is not None:
        prompt, source = args.prompt, "the argument"
    else:
        raise UsageError("a prompt is needed: `orchard run \"TASK\"`, `orchard run - < task.md` or `--prompt-file task.md`")
    if not prompt.strip():
        raise UsageError(f"the prompt from {source} is empty")
    if "\0" in prompt:  # no agent can be handed it (an argument, the environment): its instances would fail one by one
        line = prompt.count("\n", 0, prompt.index("\0")) + 1
        raise UsageError(f"the prompt from {source} holds a NUL byte (line {line}): a prompt is text; is it a binary file?")
    return prompt
