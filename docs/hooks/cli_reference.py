"""The CLI reference (cli.md), generated from the argparse parsers at every build so it cannot drift.

A MkDocs hook (`hooks:` in mkdocs.yml): `on_files` adds cli.md to the site, written from
`client.cli.build_parser()` (every command, subcommand and option of `orchard`, with its help) and
from `python worker.py`'s parser. Nothing is written into docs/. Run it alone to see the page:

    python docs/hooks/cli_reference.py > /tmp/cli.md
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = "cli.md"
log = logging.getLogger("mkdocs.hooks.cli_reference")

INTRO = """\
# CLI reference

Generated from the parsers (`client/cli.py`'s `build_parser()` and `worker.py`'s) each time the
site is built: every command, subcommand and option, with its help as `--help` prints it.
Exit codes and output modes: [Running a strategy](running.md#exit-codes-and-output).
"""


@contextlib.contextmanager
def _importable_from_root() -> Iterator[None]:
    """Import Orchard from this checkout (not whichever copy is installed), usage lines 100 wide."""
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(ROOT))
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _names(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{flag}`" for flag in action.option_strings)
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    return ", ".join(f"`{flag} {metavar}`" if metavar else f"`{flag}`" for flag in action.option_strings)


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    parts = []
    if action.help:
        parts.append(action.help % {"default": action.default, "prog": parser.prog} if "%(" in action.help else action.help)
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        parts.append("one of: " + ", ".join(f"`{c}`" for c in action.choices))
    said = (action.help or "").lower()
    if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0 and "default" not in said:
        parts.append(f"default: `{action.default}`")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in said:
        parts.append("repeatable")
    if action.required and action.option_strings:
        parts.append("required")
    return _cell("; ".join(parts)) or "&nbsp;"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def _section(parser: argparse.ArgumentParser, level: int, summary: str) -> list[str]:
    lines = [f"{'#' * level} {parser.prog}", ""]
    if summary:
        lines += [_cell(summary), ""]
    if parser.description and parser.description != summary:
        lines += [_cell(parser.description), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    untitled = ("positional arguments", "options", "optional arguments")  # argparse's own groups: one table
    groups = [[a for g in parser._action_groups if g.title in untitled for a in g._group_actions]]
    groups += [list(g._group_actions) for g in parser._action_groups if g.title not in untitled]
    for group in groups:
        rows = [a for a in group if a.help != argparse.SUPPRESS and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        if not rows:
            continue
        title = next((g.title for g in parser._action_groups if rows[0] in g._group_actions and g.title not in untitled), None)
        if title:
            lines += [f"*{_cell(title)}*", ""]
        lines += ["| argument | what it does |", "|---|---|"]
        lines += [f"| {_names(a)} | {_help(a, parser)} |" for a in rows]
        lines.append("")
    subs = _subcommands(parser)
    if subs:
        lines += ["| command | what it does |", "|---|---|"]
        lines += [f"| `{parser.prog} {name}` | {_cell(text)} |" for name, text, _ in subs]
        lines.append("")
        for _, text, sub in subs:
            lines += _section(sub, min(level + 1, 4), text)
    return lines


class _Caught(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _worker_parser() -> argparse.ArgumentParser:
    """worker.py builds its parser inside parse_args(): take the parser as it is asked to parse."""
    from orchard_worker import main as worker

    def caught(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Caught(self)

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = caught  # type: ignore[method-assign]
    try:
        worker.parse_args([])
    except _Caught as c:
        return c.parser
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    raise RuntimeError("worker.parse_args() built no parser")


def render() -> str:
    with _importable_from_root():
        from client.cli import build_parser

        orchard = build_parser()
        worker = _worker_parser()
        lines = [INTRO, *_section(orchard, 2, "")]
        lines += _section(worker, 2, "A worker on your own Temporal server: see [Your own Temporal server](server.md#your-own-temporal-server-and-workers) "
                                     "and [Several hosts](hosts.md).")
    return "\n".join(lines).rstrip() + "\n"


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    try:
        content = render()
    except Exception as e:  # noqa: BLE001 - a strict build fails on the warning, naming why
        log.warning("the CLI reference could not be generated from client/cli.py: %s: %s", type(e).__name__, e)
        content = "# CLI reference\n\nNot generated: see the build's warning.\n"
    files.append(File.generated(config, PAGE, content=content))
    return files


if __name__ == "__main__":
    sys.stdout.write(render())
