"""Queue sources run for real: bash prints the items, [functions] are shell commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.runbooks.sources import SourceError, queue_items, read_runbook_queue, read_source
from tests.conftest import git, make_repo
from workflows.runbooks.consumer_state import QueueReadInput
from workflows.runbooks.expressions import parse_order
from workflows.runbooks.model import QueueDef, Template


def queue(source: str | None, fmt: str = "json", filter: str | None = None, order: str | None = None) -> QueueDef:
    return QueueDef(
        ref="ops.queue.q", name="q", format=fmt, filter=filter, order=parse_order(order) if order else [],  # type: ignore[arg-type]
        source=Template(source=source, runbook="ops") if source else None,
    )


async def test_each_format_is_read_from_what_the_command_prints(tmp_path: Path) -> None:
    (tmp_path / "bugs.csv").write_text("id,priority\n1,3\n2,1\n")
    assert await read_source(queue("cat bugs.csv", "csv"), {}, tmp_path) == [{"id": 1, "priority": 3}, {"id": 2, "priority": 1}]
    assert await read_source(queue("printf 'a\\nb\\n'", "lines"), {}, tmp_path) == ["a", "b"]
    assert await read_source(queue("echo id=1 title=\\'Fix it\\'", "kv"), {}, tmp_path) == [{"id": 1, "title": "Fix it"}]
    assert await read_source(queue("echo '{config.list}'"), {"list": '[{"id": 9}]'}, tmp_path) == [{"id": 9}]


async def test_filters_call_runbook_functions_and_orders_sort(tmp_path: Path) -> None:
    items = [{"id": n, "priority": n % 3} for n in range(1, 7)]
    (tmp_path / "items.json").write_text(json.dumps(items))
    functions = {"above": Template(source="test {id} -gt {limit}", runbook="ops")}
    picked = await queue_items(queue("cat items.json", filter="above(limit=2) and priority > 0", order="priority DESC, id DESC"), {}, functions, tmp_path)
    assert [i["id"] for i in picked] == [5, 4]


async def test_a_failing_or_unreadable_source_is_one_line_naming_the_command(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^queue q: source `echo oops >&2; exit 3` exited 3: oops$"):
        await read_source(queue("echo oops >&2; exit 3"), {}, tmp_path)
    with pytest.raises(SourceError, match=r"^queue q: source `printf '1,2\\n3\\n'` printed what format csv cannot read: line 2: 1 values for 2 columns"):
        await read_source(queue("printf '1,2\\n3\\n'", "csv"), {}, tmp_path)
    with pytest.raises(SourceError, match="queue q has no source"):
        await read_source(queue(None), {}, tmp_path)


@pytest.mark.slow  # a second of real time
async def test_a_source_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = f"orchard-source-sleeper-{uuid.uuid4().hex[:12]}"
    source = f"(exec -a {marker} sleep 60) & (exec -a {marker} sleep 60)"
    started = time.monotonic()
    task = asyncio.ensure_future(read_source(queue(source), {}, tmp_path, timeout=1))
    await asyncio.sleep(0.5)
    assert len(subprocess.run(["pgrep", "-f", f"^{marker}"], capture_output=True, text=True).stdout.split()) == 2  # both run until the timeout
    with pytest.raises(SourceError, match=r"did not finish within 1s"):
        await task
    assert time.monotonic() - started < 5
    assert subprocess.run(["pgrep", "-f", f"^{marker}"], capture_output=True).stdout == b""


async def test_on_a_remote_a_queue_is_read_from_a_checkout_of_its_branch_as_the_remote_has_it_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "host"))
    source = make_repo(tmp_path / "source", {"bugs.json": '[{"id": 1}]'})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    read = QueueReadInput(repo=bare.as_uri(), base_branch="main", queue=queue("cat bugs.json; git status --porcelain"))
    assert (await ActivityEnvironment().run(read_runbook_queue, read)).items == [{"id": 1}]
    (source / "bugs.json").write_text('[{"id": 1}, {"id": 2}]')
    git(source, "commit", "-qam", "a new bug")
    git(source, "push", "-q", str(bare), "main")
    assert (await ActivityEnvironment().run(read_runbook_queue, read)).items == [{"id": 1}, {"id": 2}]  # the next poll sees the remote's main as it is now
