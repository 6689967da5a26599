"""Runbooks written as otters' users write them (issue 26): each idiom loads, checks and reads as
it means in otters, with Orchard's stricter choices kept (an undefined variable is an error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from client.runbooks.registry import RunbookRegistry, load_runbooks, runbook_files
from tests.conftest import ROOT

OTTERS = ROOT / "tests" / "runbooks" / "otters"


def _load(tmp_path: Path, **files: str) -> list[str]:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return [f"{p.place}: {p.message}" for p in load_runbooks(runbook_files(tmp_path)).problems]


def test_a_runbook_named_with_a_dot_loads_beside_its_namesake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """otters' docs keep build.minimal.toml beside build.toml: two runbooks, build and build.minimal,
    each with a command build; references name them from the right (build.minimal.pipeline.build)."""
    pipeline = '[command.build]\nargs = "<name>"\nrun = { pipeline = "build" }\n[pipeline.build]\ninputs = ["name"]\n' \
               '[[pipeline.build.phase]]\nname = "init"\nrun = "echo {name}"\n'
    assert _load(tmp_path, build=pipeline, **{"build.minimal": pipeline + '[[pipeline.build.phase]]\nname = "plan"\nrun = { agent = "planning" }\n'
                                              '[agent.planning]\nprompt = "plan {name}"\n'}) == []
    registry = RunbookRegistry.load_directory(tmp_path)
    assert registry.resolve("build.minimal.pipeline.build").ref == "build.minimal.pipeline.build"
    assert registry.resolve("build.minimal.build", "pipeline").phases[1].action.task == "build.minimal.task.planning"
    assert sorted(registry.bundle("build.minimal.pipeline.build").runbooks) == ["build.minimal"]
    assert main(["runbook", "show", "--runbooks", str(tmp_path), "build.minimal"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["pipeline build.minimal.build", "  inputs: name", "  1. init  run      $ echo {name}"]
    assert main(["runbook", "validate", str(tmp_path / "build.minimal.toml")]) == 0
    assert capsys.readouterr().out.endswith("build.minimal.toml: valid: 1 command, 1 pipeline, 1 task (2 phases)\n")
