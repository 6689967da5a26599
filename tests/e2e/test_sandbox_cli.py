"""`orchard run` with no runner named, where bubblewrap works: the run's header says its agents are
sandboxed, and a scripted agent that writes into the user's checkout by its path and reads
another run's results under $ORCHARD_HOME does neither; with `--runner local` the same agent does
both (the positive control). Each escape on its own: tests/activities/runners/test_sandbox.py."""

from __future__ import annotations

import json

import pytest

from tests.conftest import orchard, require_sandbox

pytestmark = pytest.mark.slow


def test_the_default_runs_agents_in_a_sandbox_and_says_so_and_local_does_not(embedded, repo, tmp_path):
    require_sandbox()
    home, env, _, _ = embedded
    secret = home / "runs" / "run_other" / "kabcdef12" / "final_message.md"
    secret.parent.mkdir(parents=True)
    secret.write_text("another run's secret\n")
    probe = tmp_path / "probe.sh"
    probe.write_text(f"cat {secret}; echo escaped >> {repo}/README.md; echo done\n")
    sandboxed = orchard("run", "probe", "--agent-command", f"bash {probe}", "--import-policy", "never", "--output", "streaming", env=env, cwd=repo)
    assert sandboxed.returncode == 0 and sandboxed.stderr == "", sandboxed.stderr
    assert sandboxed.stdout.splitlines()[0].startswith("simple run run_") and sandboxed.stdout.splitlines()[0].endswith(" (agents sandboxed by bubblewrap)")
    assert "escaped" not in (repo / "README.md").read_text()
    shown = json.loads(orchard("show", sandboxed.stdout.split()[2], "--output", "json", env=env, cwd=repo).stdout)
    (instance,) = shown["instances"]
    assert instance["metadata"]["runner"] == "sandbox" and "another run's secret" not in (instance["final_message"] or "")

    local = orchard("run", "probe", "--agent-command", f"bash {probe}", "--import-policy", "never", "--runner", "local", "--output", "json", env=env,
                    cwd=repo)
    assert local.returncode == 0, local.stderr
    (instance,) = json.loads(local.stdout.strip().splitlines()[-1])["instances"]
    assert instance["metadata"]["runner"] == "local" and "another run's secret" in instance["final_message"]
    assert "escaped" in (repo / "README.md").read_text()
