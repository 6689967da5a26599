"""Keeps layout.md true: a MkDocs hook that warns (so `mkdocs build --strict` fails) when a folder of
the tree is missing from the page's tree, or the page names a folder that is gone.

The folders the page must name: every top-level folder of the repository and every Python package
(a folder with an `__init__.py`) outside tests/. The page's tree is its first ```text block, one
folder a line (`name/`), indented two spaces per level.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parents[1] / "layout.md"
NOT_TREE = {"site", "build", "dist", "__pycache__", "node_modules"}
log = logging.getLogger("mkdocs.hooks.layout_check")


def _listed(text: str) -> set[str]:
    block = re.search(r"```text\n(.*?)```", text, re.DOTALL)
    if block is None:
        return set()
    listed: set[str] = set()
    stack: list[str] = []  # the folders above the line, by depth
    for line in block.group(1).splitlines():
        m = re.match(r"( *)(\S+/)(\s|$)", line)
        if m is None:
            continue
        depth = len(m.group(1)) // 2
        del stack[depth:]
        for part in m.group(2).rstrip("/").split("/"):  # `runners/docker/` on one line names both
            stack.append(part)
            listed.add("/".join(stack))
    return listed


def _wanted() -> set[str]:
    def skipped(path: Path) -> bool:
        rel = path.relative_to(ROOT).parts
        return any(p.startswith(".") or p in NOT_TREE or p.endswith(".egg-info") for p in rel)

    wanted = {p.name for p in ROOT.iterdir() if p.is_dir() and not skipped(p)}
    for init in ROOT.rglob("__init__.py"):
        folder = init.parent
        if not skipped(folder) and folder.relative_to(ROOT).parts[0] != "tests":
            wanted.add(folder.relative_to(ROOT).as_posix())
    return wanted


def problems() -> list[str]:
    listed, wanted = _listed(PAGE.read_text()), _wanted()
    missing = sorted(wanted - listed)
    gone = sorted(p for p in listed - wanted if not (ROOT / p).is_dir())
    found = [f"layout.md does not name the folder {p}/: add a line for it" for p in missing]
    return found + [f"layout.md names {p}/, which is not in the tree: remove or rename it" for p in gone]


def on_pre_build(config: Any) -> None:
    for problem in problems():
        log.warning(problem)


if __name__ == "__main__":
    print("\n".join(problems()) or "layout.md names every folder")
