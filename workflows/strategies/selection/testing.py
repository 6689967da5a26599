"""`tests`: test writers (agents that see the task, never the candidates) write tests on a branch
from the base; every candidate and the base commit run them all; candidates rank by the tests they
pass. A test that fails on every candidate (a wrong test) or passes on the base (it checks nothing)
counts for nothing; ties go to the scorer (or, in `tests+tournament`, to the tournament)."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows.sdk.context import Context, Handle
from workflows.sdk.errors import InstanceFailed
from workflows.sdk.models import InstanceResult, TestSource, VerifyResult
from workflows.sdk.trail import TestRecord
from workflows.strategies.read_only_agent import agent_overrides
from workflows.strategies.selection.config import SelectionConfig
from workflows.strategies.selection.pool import Pool, number

TESTS_FOLDER = "orchard_tests"


def folder(writer: int) -> str:
    return f"{TESTS_FOLDER}/writer_{writer}"


def writer_prompt(prompt: str, writer: int, command: str) -> str:
    where = folder(writer)
    return (
        "You are writing tests for a coding task. Another agent will solve the task; you do not see its solution.\n\n"
        f"<task>\n{prompt}\n</task>\n\n"
        f"Write pytest tests that pass once the task is done correctly and fail before. Put them in `{where}/` "
        f"(relative to the repository's root; files named test_*.py), change nothing else, and commit them. "
        f"They are run from the repository's root with `{command} {where}`. "
        "Test the behaviour the task asks for, through the project's public interface; keep each test small and independent."
    )


async def start_writers(ctx: Context, cfg: SelectionConfig, prompt: str, base_branch: str) -> list[Handle]:
    """The test writers, started with the candidates (they need nothing of them)."""
    overrides = agent_overrides(cfg.test_writer_model or cfg.model, cfg.test_writer_plugin, cfg.test_writer_agent_command)
    return [
        await ctx.run({**overrides, "prompt": writer_prompt(prompt, w, cfg.test_command), "base_branch": base_branch}, key=ctx.key("tests", "writer", w))
        for w in range(1, cfg.test_writers + 1)
    ]


async def sources(ctx: Context, writers: list[Handle]) -> list[TestSource]:
    """The folders of the writers that committed something (a failed writer adds no tests)."""
    found = []
    for w, handle in enumerate(writers, 1):
        try:
            result = await ctx.wait(handle)
        except InstanceFailed:
            continue
        if result.has_changes and result.commit:
            found.append(TestSource(commit=result.commit, path=folder(w)))
    return found


def matrix(outcomes: dict[int, dict[str, bool]], base: dict[str, bool]) -> list[TestRecord]:
    """One row per test seen anywhere: who passed it, whether it counts. A test a candidate's run
    did not report (it did not collect, the run timed out) failed there."""
    tests = sorted({t for found in (*outcomes.values(), base) for t in found})
    rows = []
    for test in tests:
        passed = [n for n, found in sorted(outcomes.items()) if found.get(test)]
        failed = [n for n in sorted(outcomes) if n not in passed]
        note = ("passes on the base commit: it checks nothing" if base.get(test)
                else "fails on every candidate: taken for a wrong test" if not passed else "")
        rows.append(TestRecord(test=test, writer=_writer_of(test), base=base.get(test, False), passed=passed, failed=failed,
                               counted=not note, note=note))
    return rows


def _writer_of(test: str) -> int:
    head = test.removeprefix(TESTS_FOLDER + "/writer_").split("/", 1)[0]
    return int(head) if head.isdigit() else 0


async def run_tests(pool: Pool) -> list[TestRecord]:
    """Every eligible candidate and the base commit run every writer's tests (once in the run)."""
    if pool.matrix is not None:
        return pool.matrix
    ctx, cfg = pool.ctx, pool.cfg
    pool.sources = found = await sources(ctx, pool.writers)
    eligible = pool.eligible
    if not found or not eligible:
        pool.matrix = []
        return pool.matrix
    ctx.phase = "running the generated tests"
    runs: list[Any] = [ctx.verify(c, cfg.test_command, cfg.verify_timeout, tests=found) for c in eligible]
    runs.append(ctx.verify(ctx.base_commit, cfg.test_command, cfg.verify_timeout, tests=found))
    done: list[VerifyResult] = list(await asyncio.gather(*runs))
    outcomes = {number(c): v.tests for c, v in zip(eligible, done, strict=False)}
    pool.matrix = matrix(outcomes, done[-1].tests)
    counted = [row for row in pool.matrix if row.counted]
    for c in eligible:
        c.metrics["tests_passed"] = sum(1 for row in counted if number(c) in row.passed)
        c.metrics["tests_counted"] = len(counted)
    pool.trail(pool.matrix)
    return pool.matrix


def passed_by(rows: list[TestRecord], c: InstanceResult) -> set[str]:
    """The counted tests `c` passed."""
    return {row.test for row in rows if row.counted and number(c) in row.passed}


async def top_by_tests(pool: Pool, asked: set[str]) -> tuple[list[InstanceResult], str]:
    """The eligible candidates that passed the most counted tests, and what that was."""
    rows = await run_tests(pool)
    asked.update(h.key for h in pool.writers)
    eligible = pool.eligible
    counted = [row for row in rows if row.counted]
    if not counted:
        why = "no test writer committed tests" if not rows else f"none of the {len(rows)} generated tests counted"
        return eligible, why
    best = max(len(passed_by(rows, c)) for c in eligible)
    top = [c for c in eligible if len(passed_by(rows, c)) == best]
    ignored = len(rows) - len(counted)
    return top, f"passed {best} of {len(counted)} counted tests" + (f" ({ignored} generated tests counted for nothing)" if ignored else "")
