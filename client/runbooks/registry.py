"""Runbooks found, loaded and looked up by name.

`runbooks/*.toml` at the repository root (or `--runbooks DIR`, or `runbooks:` in orchard.yaml);
each file is one runbook named after the file. `load_runbooks` reads a folder and reports every
problem of every file; a `RunbookRegistry` holds a valid set and resolves references
(`bugfix.pipeline.fix`, `bugfix.fix` when the kind is known) and cuts out the part of the set that
one pipeline can reach, which is what its run carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.runbooks.parser import RunbookFile, parse_runbook_file
from client.runbooks.problems import Problem, RunbookError, did_you_mean
from client.runbooks.validator import validate, warnings
from workflows.runbooks import model as m


@dataclass
class LoadedRunbooks:
    runbooks: dict[str, m.Runbook]
    files: dict[str, RunbookFile]
    problems: list[Problem]
    warnings: list[Problem]
    """What `orchard runbook validate` points out without refusing (a `raw` value in a shell command)."""

    def problems_in(self, files: Iterable[str]) -> list[Problem]:
        wanted = set(files)
        return [p for p in self.problems if p.file in wanted]

    def warnings_in(self, files: Iterable[str]) -> list[Problem]:
        wanted = set(files)
        return [p for p in self.warnings if p.file in wanted]


def runbook_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.toml") if p.is_file())


def load_runbooks(files: Iterable[Path]) -> LoadedRunbooks:
    """Read and validate `files` as one set; nothing raised, every problem listed."""
    read: dict[str, RunbookFile] = {}
    problems: list[Problem] = []
    for path in files:
        book = parse_runbook_file(path)
        if book.name in read:
            problems.append(Problem(book.file, "", f"a second runbook named {book.name!r} (also {read[book.name].file}); runbooks are named after their files"))
            continue
        read[book.name] = book
    runbooks = {name: book.runbook for name, book in read.items() if book.runbook is not None}
    problems += [p for book in read.values() for p in book.problems]
    problems += validate(runbooks, read)
    return LoadedRunbooks(runbooks, read, sorted(set(problems)), warnings(runbooks))


class RunbookRegistry:
    def __init__(self, runbooks: dict[str, m.Runbook]):
        self.runbooks = runbooks

    @classmethod
    def load_directory(cls, folder: str | Path) -> RunbookRegistry:
        """The valid runbooks of `folder`; RunbookError listing every problem otherwise."""
        folder = Path(folder)
        if not folder.is_dir():
            raise RunbookError([Problem(str(folder), "", "no such folder of runbooks: create it with NAME.toml files, "
                                                         "or pass --runbooks DIR (or runbooks: in orchard.yaml)")])
        loaded = load_runbooks(runbook_files(folder))
        if loaded.problems:
            raise RunbookError(loaded.problems)
        return cls(loaded.runbooks)

    def resolve(self, reference: str, kind: m.Kind | None = None) -> Any:
        """`runbook.kind.name`, or `runbook.name` with `kind` given. Raises KeyError saying what exists."""
        parts = reference.split(".")
        if len(parts) >= 3 and m.is_kind(parts[-2]):  # a runbook's name may hold dots: read from the right
            parts = [".".join(parts[:-2]), parts[-2], parts[-1]]
        elif len(parts) >= 2 and kind is not None:
            parts = [".".join(parts[:-1]), kind, parts[-1]]
        found_kind = parts[1] if len(parts) == 3 and all(parts) else ""
        if not m.is_kind(found_kind):
            shape = f"RUNBOOK.{kind or 'KIND'}.NAME" + (" or RUNBOOK.NAME (e.g. build.build)" if kind else "")
            raise KeyError(f"{reference!r}: write {shape}")
        runbook_name, name = parts[0], parts[2]
        if runbook_name not in self.runbooks:
            raise KeyError(f"no runbook {runbook_name!r}{did_you_mean(runbook_name, self.runbooks)}; runbooks: {', '.join(sorted(self.runbooks)) or 'none'}")
        table = self.runbooks[runbook_name].table(found_kind)
        if name not in table:
            listed = ", ".join(sorted(table)) or "none"
            raise KeyError(f"runbook {runbook_name} has no {found_kind} {name!r}{did_you_mean(name, table)}; its {m._TABLES[found_kind]}: {listed}")
        return table[name]

    def bundle(self, *references: m.Ref) -> m.RunbookSet:
        """The definitions reachable from `references` (pipelines, workers, commands, crons, tasks,
        monitors, actions, ...), with the config, functions, events and safety of each runbook they come from."""
        keep: set[m.Ref] = set()
        todo = list(references)
        while todo:
            reference = todo.pop()
            if reference in keep:
                continue
            keep.add(reference)
            todo.extend(_references_of(self.resolve(reference)))
        books: dict[str, dict[str, Any]] = {}
        for reference in sorted(keep):
            runbook_name, kind, name = m.split_ref(reference)
            book = books.setdefault(runbook_name, {})
            book.setdefault(m._TABLES[kind], {})[name] = self.resolve(reference)
        return m.RunbookSet(runbooks={
            name: self.runbooks[name].model_copy(update={table: tables.get(table, {}) for table in m._TABLES.values()})
            for name, tables in books.items()
        })


def _references_of(definition: Any) -> list[m.Ref]:
    found: list[m.Ref] = []
    if isinstance(definition, m.PipelineDef):
        for phase in definition.phases:
            found += [*phase.pre, *phase.post, *(r for r in (phase.lock, phase.semaphore) if r)]
            found += _action_refs(phase.action)
            if isinstance(phase.on_fail, m.UseChain):
                found.append(phase.on_fail.strategy)
            if isinstance(phase.on_fail, m.UseAction):
                found.append(phase.on_fail.action)
    elif isinstance(definition, m.TaskDef) and isinstance(definition.on_timeout, m.UseAction):
        found.append(definition.on_timeout.action)
    elif isinstance(definition, m.CronDef):
        found += definition.monitors
    elif isinstance(definition, m.MonitorDef):
        found += [step.action for step in definition.response if step.action is not None]
    elif isinstance(definition, m.ChainDef):
        for attempt in definition.attempts:
            found += _action_refs(attempt.action)
    elif isinstance(definition, m.ConsumerDef):
        found += [definition.queue, definition.handler]
    elif isinstance(definition, m.CommandDef):
        found += _action_refs(definition.action)
    return found


def _action_refs(action: Any) -> list[m.Ref]:
    if isinstance(action, m.RunTask):
        return [action.task]
    if isinstance(action, m.RunChain):
        return [action.strategy]
    if isinstance(action, m.RunPipeline):
        return [action.pipeline]
    if isinstance(action, m.RunOrchardStrategy) and action.task:
        return [action.task]
    return []
