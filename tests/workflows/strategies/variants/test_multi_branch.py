"""`multi-branch`'s decisions against scripted activities: every variant runs with its own
settings and prompt, and each result carries its id and its row of the comparison table. Real
branches of a multi-branch run are in test_variant_strategies.py."""

from __future__ import annotations

from tests.conftest import run_scripted
from tests.scripted import Script


async def test_multi_branch_runs_every_variant_with_its_settings_and_compares_them(client, scripted_queue):
    variants = [
        {"id": "plain"},
        {"prompt_suffix": ["Be brief.", "Be thorough."]},  # a sweep: two variants
        {"id": "opus", "model": "opus", "prompt_prefix": "You are careful."},
        {"id": "broken", "agent_command": "echo 'no model access' >&2; exit 3"},
    ]
    script = Script(failures={"variant/broken": "agent exited with code 3: no model access"})
    result = await run_scripted(client, scripted_queue, "multi-branch", script, params={"variants": variants, "verify": "test -d demo"}, model="sonnet")
    assert result.status == "partial" and result.instances_run == 5
    by_variant = {r.variant.id: r for r in result.instances}
    assert list(by_variant) == ["plain", "prompt_suffix=Be brief.", "prompt_suffix=Be thorough.", "opus", "broken"]
    assert [r.key for r in result.instances] == [f"variant/{v}" for v in by_variant]
    # Each variant's settings over the run's, its prompt additions around the prompt.
    tasks = {v: script.call(f"variant/{v}").task for v in by_variant}
    assert tasks["plain"].prompt == "add a greeting" and (tasks["plain"].model, tasks["plain"].agent_command) == ("sonnet", "scripted")
    assert tasks["prompt_suffix=Be thorough."].prompt == "add a greeting\n\nBe thorough."
    assert (tasks["opus"].model, tasks["opus"].prompt) == ("opus", "You are careful.\n\nadd a greeting")
    assert tasks["broken"].agent_command == "echo 'no model access' >&2; exit 3"
    assert all(t.base_branch == "main" for t in tasks.values())
    rows = {v: r.legacy_dump()["metadata"]["comparison"] for v, r in by_variant.items()}
    assert rows["plain"] == {
        "variant": "plain", "role": "variant", "success": True, "duration_seconds": by_variant["plain"].duration_seconds,
        "tokens": 0, "cost_usd": 0.0, "files_changed": 1, "verified": True,
    }
    assert all(rows[v]["verified"] is True and by_variant[v].metrics["verify_passed"] is True for v in rows if v != "broken")
    assert rows["broken"]["success"] is False and rows["broken"]["verified"] is None
    assert "no model access" in by_variant["broken"].error
    # Verification ran on each successful variant's commit, never on the failed one.
    assert sorted(c.commit for c in script.checks) == sorted(r.commit for r in result.instances if r.success)


async def test_a_variant_failing_verification_is_marked_in_its_row(client, scripted_queue):
    script = Script(failing_commits=["variant/b"])
    result = await run_scripted(client, scripted_queue, "multi-branch", script, params={"variants": [{"id": "a"}, {"id": "b"}], "verify": "pytest -q"})
    rows = {r.variant.id: r.legacy_dump()["metadata"]["comparison"] for r in result.instances}
    assert (rows["a"]["verified"], rows["b"]["verified"]) == (True, False)
    assert result.status == "success"  # verification is compared, not counted
