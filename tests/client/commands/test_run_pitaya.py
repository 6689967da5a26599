"""`orchard run --strategy FILE` with a strategy file written for Pitaya: each way it fails to load is
one line naming the user's file and line, exit 2, and nothing started; a Pitaya config's
`validate()` refuses bad values the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.client.commands.test_run import scripted
from tests.orchard_common.test_load_errors import BROKEN, broken

PITAYA = Path(__file__).resolve().parents[2] / "strategy_files" / "pitaya"


@pytest.mark.parametrize("kind", sorted(BROKEN))
async def test_a_strategy_file_that_does_not_load_is_one_line_naming_its_line(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue,
                                                                             tmp_path: Path, kind: str):
    path, says = broken(tmp_path, kind)
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", str(path)))
    assert said.code == 2 and said.out == "" and scripted_runs.started == []
    assert said.err.startswith(f"orchard: strategy file {path} ") and says in said.err and said.err.count("\n") == 1, said.err


async def test_a_pitaya_config_validate_refuses_a_bad_value_before_the_run(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue):
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", f"{PITAYA / 'ranked.py'}", "-S", "n=0"))
    assert (said.code, said.out, scripted_runs.started) == (2, "", [])
    assert said.err == "orchard: bad parameters for strategy 'pitaya-ranked': n must be at least 1\n"
