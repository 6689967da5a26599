"""The `orchard` command as a user drives it: the embedded server, detach/watch/cancel, a worker
killed with -9, named servers, bad input, and credentials. Real processes throughout."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from activities.ownership import OwnedProcess
from activities.runners.local import RunningRecord, tagged_processes
from tests.conftest import (
    DEMO_AGENT,
    ROOT,
    git,
    gone_within,
    orchard,
    orchard_argv,
    orchard_branches,
    orchard_env,
    pending_workers_of,
    pid_in,
    stop_embedded,
    write_dev_config,
)
from workflows.sdk.models import key_hash8

pytestmark = pytest.mark.slow


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_embedded_default_runs_best_of_n_and_survives_a_server_restart(embedded, repo):
    home, env, port, ui_port = embedded
    first = orchard("run", "add a greeting", "--strategy", "best-of-n", "-S", "n=3", "--agent-command", DEMO_AGENT, "--output", "streaming", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split("run ", 1)[1].split()[0]
    assert "winner: orchard/best-of-n/" in first.stdout
    assert f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{run_id}" in first.stdout
    assert len(orchard_branches(repo)) == 3
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10) as page:
        assert page.status == 200
    assert (home / "temporal.db").is_file()
    server_pid = pid_in(home / "temporal.pid")
    foreground = orchard("server", env=env, cwd=repo)
    assert foreground.returncode == 2 and "(the embedded one that `orchard run` started in the background)" in foreground.stderr
    assert "with `orchard server stop`" in foreground.stderr

    second = orchard("run", "another change", "--agent-command", DEMO_AGENT, "--output", "json", env=env, cwd=repo)
    assert second.returncode == 0, second.stderr
    assert pid_in(home / "temporal.pid") == server_pid  # the running server was reused
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result["type"] == "result" and result["status"] == "success" and result["strategy"] == "simple"
    assert result["instances"][0]["branch_name"] in orchard_branches(repo)

    listed = orchard("list", "--strategy", "best-of-n", "--output", "json", env=env, cwd=repo)
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [run_id]
    by_repo = orchard("list", "--repo", str(repo), "--status", "success", env=env, cwd=repo)
    assert run_id in by_repo.stdout and result["run_id"] in by_repo.stdout

    assert orchard("server", "stop", env=env, cwd=repo).returncode == 0
    assert not _running(server_pid)
    shown = orchard("show", run_id, env=env, cwd=repo)  # starts the server again from its database
    assert shown.returncode == 0, shown.stderr
    assert "winner: orchard/best-of-n/" in shown.stdout and "success" in shown.stdout

    history = repo.parent / "history.json"
    assert orchard("history", run_id, "-o", str(history), env=env, cwd=repo).returncode == 0
    replayed = orchard("replay", str(history), env=env, cwd=repo)
    assert replayed.returncode == 0 and "deterministic" in replayed.stdout
    diverged = orchard("replay", str(history), "--strategy", str(ROOT / "tests/strategy_files/best_of_n_changed.py"), env=env, cwd=repo)
    assert diverged.returncode == 1 and diverged.stderr.count("\n") == 1 and "\x1b" not in diverged.stderr  # one line, no SDK log
    assert diverged.stderr.startswith("orchard: nondeterminism: the edited code starts instance warmup where the history has instance candidate/1")
    again = orchard("history", run_id, "-o", str(history), env=env, cwd=repo)
    assert again.returncode == 2 and "exists" in again.stderr


def test_detached_run_is_watched_and_a_cancel_leaves_nothing_behind(embedded, repo):
    home, env, _, _ = embedded
    done = orchard("run", "quick", "--agent-command", DEMO_AGENT, "--runner", "local", "--network-egress", "offline", "--detach", env=env, cwd=repo)
    assert done.returncode == 0, done.stderr
    # The local runner cannot take the network away: the run says so instead of dropping the flag.
    assert "orchard: --network-egress offline has no effect on the local runner: agents use the host's network" in done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    assert run_id.startswith("run_") and f"orchard watch {run_id}" in done.stderr
    watched = orchard("watch", run_id, "--output", "quiet", env=env, cwd=repo)
    assert watched.returncode == 0 and run_id in watched.stdout

    marker = f"orchard-e2e-{uuid.uuid4().hex[:6]}"
    slow = orchard("run", "slow", "--strategy", "best-of-n", "-S", "n=2", "--agent-command", f"bash -c 'exec -a {marker} sleep 120'", "--detach", env=env,
                   cwd=repo)
    run_id = slow.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-fc", marker], capture_output=True, text=True).stdout.strip() != "2":
        assert time.monotonic() < deadline, "agents did not start"
        time.sleep(0.2)
    cancelled = orchard("cancel", run_id, env=env, cwd=repo)
    assert cancelled.returncode == 0, cancelled.stderr
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    assert not (home / "workspaces" / run_id).exists()

    # The run's worker is dead: cancel restarts it, whose start ends the dead attempts, so the
    # run ends within seconds, not after the 15 s heartbeat timeout.
    slow = orchard("run", "slow", "--agent-command", f"bash -c 'exec -a {marker} sleep 120'", "--detach", env=env, cwd=repo)
    orphan_run = slow.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-fc", marker], capture_output=True, text=True).stdout.strip() != "1":
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.2)
    os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)
    killed = time.monotonic()
    cancelled = orchard("cancel", orphan_run, env=env, cwd=repo, timeout=60)
    assert cancelled.returncode == 0 and f"run {orphan_run}: canceled" in cancelled.stdout, cancelled.stderr
    assert time.monotonic() - killed < 12
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    assert not (home / "workspaces" / orphan_run).exists()
    watched_canceled = orchard("watch", run_id, env=env, cwd=repo)
    assert watched_canceled.returncode == 4 and f"run {run_id}: canceled" in watched_canceled.stdout  # its own exit code
    assert orchard("cancel", run_id, env=env, cwd=repo).returncode == 2


def test_worker_killed_mid_run_finished_instances_are_not_run_again(embedded, repo, tmp_path):
    home, env, _, _ = embedded
    log = tmp_path / "agent-runs.log"
    agent = f"DEMO_AGENT_LOG={log} DEMO_AGENT_ONLY_KEY='candidate/[23]' DEMO_AGENT_SLEEP_FIRST=60 {DEMO_AGENT}"
    # the agent writes a file of the test's outside its workspace: the local runner, which allows it
    started = orchard("run", "durable", "--strategy", "best-of-n", "-S", "n=3", "--agent-command", agent, "--runner", "local", "--detach", env=env,
                      cwd=repo)
    run_id = started.stdout.strip().splitlines()[-1]
    scored = home / "runs" / run_id / f"k{key_hash8('score/1/1')}" / "result.json"  # recorded: never run again
    deadline = time.monotonic() + 30
    while not scored.exists():
        assert time.monotonic() < deadline, "candidate 1 was not scored"
        time.sleep(0.2)
    records = [RunningRecord.model_validate_json(record.read_text()) for record in (home / "running").glob(f"{run_id}.*.json")]
    orphans = [pid for record in records for pid in tagged_processes(record.tag)]
    assert len(orphans) >= 2  # candidates 2 and 3, sleeping
    worker_pid = pid_in(home / "workers" / "orchard.pid")
    os.kill(worker_pid, signal.SIGKILL)
    killed = time.monotonic()

    watch = subprocess.Popen(orchard_argv("watch", run_id, "--output", "json"), env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The new worker stops the orphaned agents at its start, long before the retries could (they
    # start once the 15 s heartbeat timeout has passed).
    while any(OwnedProcess.of(pid) for pid in orphans):
        assert time.monotonic() - killed < 12, "the dead worker's agents kept running"
        time.sleep(0.2)
    out, err = watch.communicate(timeout=180)  # restarts the worker
    assert watch.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "success" and len(result["instances"]) == 3
    runs = log.read_text().splitlines()
    assert runs.count("candidate/1") == 1 and runs.count("score/1/1") == 1
    assert runs.count("candidate/2") == 2 and runs.count("candidate/3") == 2  # the interrupted ones ran again
    assert len(orchard_branches(repo)) == 3
    assert pid_in(home / "workers" / "orchard.pid") != worker_pid


def test_custom_strategy_file_runs_detached_on_its_own_worker(embedded, repo):
    home, env, _, _ = embedded
    started = orchard("run", "fan out", "--strategy", str(ROOT / "examples/fanout_two.py"), "-S", "n=3", "--agent-command", DEMO_AGENT, "--detach", env=env,
                      cwd=repo)
    assert started.returncode == 0, started.stderr
    watched = orchard("watch", started.stdout.strip().splitlines()[-1], "--output", "quiet", env=env, cwd=repo)
    assert watched.returncode == 0, watched.stderr
    assert len(orchard_branches(repo)) == 3
    assert any(p.name.startswith("orchard-custom-") for p in (home / "workers").iterdir())
    # A module spec resolves against the current folder, as `python -m` does.
    by_module = orchard("run", "refine", "--strategy", "examples.propose_refine", "--repo", str(repo), "--agent-command", DEMO_AGENT, "--output", "quiet",
                        env=env, cwd=ROOT)
    assert by_module.returncode == 0, by_module.stderr
    assert len(orchard_branches(repo)) == 5


def test_named_server_without_a_worker_says_so_and_creates_nothing(named_server, repo, tmp_path, client):
    env = orchard_env(tmp_path / "home")
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    out = orchard("run", "x", "--address", named_server, "--task-queue", queue, "--agent-command", DEMO_AGENT, env=env, cwd=repo)
    assert out.returncode == 2 and time.monotonic() - started < 15
    assert out.stderr.count("\n") == 1 and f"no worker polls task queue '{queue}'" in out.stderr
    assert not (tmp_path / "home").exists()


def orchard_once_polled(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`orchard ARGS`, retried while the worker just started is not polling yet."""
    for _ in range(100):
        out = orchard(*args, env=env, cwd=cwd)
        if "no worker polls" not in out.stderr:
            return out
        time.sleep(0.3)
    return out


async def test_a_worker_lacking_the_strategy_is_reported_within_seconds(named_server, repo, tmp_path, client):
    env = orchard_env(tmp_path / "home")
    queue = f"builtins-{uuid.uuid4().hex[:6]}"
    worker = subprocess.Popen([sys.executable, "worker.py", "--address", named_server, "--task-queue", queue], cwd=ROOT, env=env)
    try:
        ok = orchard_once_polled("run", "x", "--address", named_server, "--task-queue", queue, "--agent-command", DEMO_AGENT, "--output", "quiet", env=env,
                                 cwd=repo)
        assert ok.returncode == 0, ok.stderr
        started = time.monotonic()
        missing = orchard("run", "x", "--address", named_server, "--task-queue", queue, "--strategy", str(ROOT / "examples/fanout_two.py"), "--agent-command",
                          DEMO_AGENT, env=env, cwd=repo)
        assert missing.returncode == 2 and time.monotonic() - started < 20
        assert f"no worker on task queue '{queue}' serves strategy 'fan-out'" in missing.stderr
        open_runs = [wf async for wf in client.list_workflows(f'TaskQueue="{queue}" AND ExecutionStatus="Running"')]
        assert open_runs == []
    finally:
        worker.terminate()
        worker.wait(30)

    # A worker told by its orchard.yaml to serve the strategy file runs it.
    config = tmp_path / "worker.yaml"
    config.write_text(f"temporal: {{address: '{named_server}', task_queue: {queue}}}\nworker: {{strategies: ['{ROOT / 'examples/fanout_two.py'}']}}\n")
    worker = subprocess.Popen([sys.executable, "worker.py", "--config", str(config)], cwd=ROOT, env=env)
    try:
        served = orchard_once_polled("run", "x", "--address", named_server, "--task-queue", queue, "--strategy", str(ROOT / "examples/fanout_two.py"),
                                     "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
        assert served.returncode == 0, served.stderr
        assert "orchard/fan-out/" in served.stdout
    finally:
        worker.terminate()
        worker.wait(30)


def test_unreachable_server_is_one_clear_line(repo, tmp_path):
    out = orchard("run", "x", "--address", "127.0.0.1:1", "--agent-command", DEMO_AGENT, env=orchard_env(tmp_path / "home"), cwd=repo)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "cannot reach Temporal at 127.0.0.1:1" in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--repo", "/"], "is not a git repository"),
        (["--base-branch", "nope"], "base branch 'nope' does not exist"),
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--strategy", "best-of-m"], "unknown strategy 'best-of-m' (did you mean 'best-of-n'?)"),
        (["-S", "n"], "malformed -S value 'n'"),
        (["--strategy", "best-of-n", "-S", "m=1"], "unknown parameter 'm' for strategy 'best-of-n'; accepted: model, n,"),
        (["--strategy", "best-of-n", "-S", "n=lots"], "bad value for parameter 'n'"),
        (["--strategy", "best-of-n", "-S", "n=true"], "bad value for parameter 'n' of strategy 'best-of-n': it takes a whole number, not a yes/no value"),
        (["--strategy", "best-of-n", "-S", "n=100000", "--detach"], "n=100,000 may ask for 300,000 instances"),
        (["--strategy", "broken.py"], "failed to import: SyntaxError"),
        (["--strategy", "stamped.py"],
         "stamped.py cannot run in the workflow sandbox: Cannot access datetime.datetime.now.__call__ from inside a workflow (line 3)"),
        (["--strategy", "badname.py"], "strategy name '../../heads/master' cannot name a branch"),
        (["--strategy", "steps.toml"], "a strategy is a Python file (path.py[:Class]) or module (pkg.mod[:Class]), not steps.toml"),
        (["--max-parallel", "x"], "invalid int value"),
        (["--timeout", "-5"], "--timeout: Input should be greater than 0"),
        (["--plugin", "command", "--agent-command", ""], "the command plugin needs --agent-command"),
        (["--remote", "upstream"], "has no remote 'upstream'; its remotes: origin"),
        (["--remote", "origin", "--strategy", "runbook-cron"], "bad parameters for strategy 'runbook-cron'"),  # not refused for the remote (a cron
        # runs on one since crons do): its parameters are checked next
        (["--remote", "origin", "--strategy", "loop"], "cannot reach the remote file://"),  # a loop runs on a remote: this one is not there
        (["--repo", "git://127.0.0.1:1/project.git"], "cannot reach the remote git://127.0.0.1:1/project.git"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_is_created(repo, tmp_path, args, message):
    (repo / "broken.py").write_text("from workflows import Strategy\ndef broken(:\n")
    (repo / "badname.py").write_text("from workflows import Strategy\nclass Bad(Strategy):\n    NAME = '../../heads/master'\n"
                                     "    async def execute(self, p, b, ctx):\n        return []\n")
    (repo / "steps.toml").write_text("[pipeline.build]\n")
    (repo / "stamped.py").write_text("import datetime\nfrom workflows import Strategy\nSTAMP = datetime.datetime.now()\nclass Stamped(Strategy):\n"
                                     "    async def execute(self, p, b, ctx):\n        return []\n")
    git(repo, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    home = tmp_path / "home"
    out = orchard("run", "x", "--agent-command", DEMO_AGENT, *args, env=orchard_env(home), cwd=repo)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert not home.exists()  # no server started, nothing half-created
    assert gone_within(lambda: pending_workers_of(home), 5.0)  # and the worker its launcher started early has let go


def test_credentials_reach_the_agent_but_never_the_history_memo_or_results(embedded, repo):
    home, env, _, _ = embedded
    canary = "sk-ant-canary-" + uuid.uuid4().hex
    env = {**env, "ANTHROPIC_API_KEY": canary}
    ran = orchard("run", "use the key", "--agent-command", f"DEMO_AGENT_SECRET_ENV=ANTHROPIC_API_KEY {DEMO_AGENT}", "--output", "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    branch = result["instances"][0]["branch_name"]
    digest_file = next(p for p in git(repo, "ls-tree", "-r", "--name-only", branch).split() if p.endswith(".secret-digest"))
    assert git(repo, "show", f"{branch}:{digest_file}") == hashlib.sha256(canary.encode()).hexdigest()

    history = orchard("history", result["run_id"], env=env, cwd=repo).stdout
    shown = orchard("show", result["run_id"], "--output", "json", env=env, cwd=repo).stdout
    listed = orchard("list", "--output", "json", env=env, cwd=repo).stdout
    assert '"events"' in history and result["run_id"] in shown and result["run_id"] in listed
    for text in (history, shown, listed, ran.stdout):
        assert canary not in text
    for f in (home / "runs").rglob("*"):
        if f.is_file():
            assert canary not in f.read_text(errors="replace"), f


def test_a_prompt_file_holding_a_nul_byte_is_one_line_exit_2_and_nothing_is_created(repo, tmp_path):
    (tmp_path / "task.bin").write_bytes(b"fix it\x00\x01")
    home = tmp_path / "home"
    out = orchard("run", "--prompt-file", str(tmp_path / "task.bin"), "--agent-command", DEMO_AGENT, "--detach", env=orchard_env(home), cwd=repo)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "holds a NUL byte (line 1)" in out.stderr, out.stderr
    assert not home.exists()
    assert gone_within(lambda: pending_workers_of(home), 5.0)


def test_ctrl_c_detaches_and_the_run_goes_on(embedded, repo):
    _, env, _, _ = embedded
    # As from a terminal, whatever launched the suite: a shell starts background jobs with SIGINT
    # ignored, and a process that starts so keeps ignoring it (Python installs no handler then).
    argv = orchard_argv("run", "slowly", "--agent-command", f"DEMO_AGENT_SLEEP=4 {DEMO_AGENT}", "--output", "streaming")
    as_from_a_terminal = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", as_from_a_terminal, *argv],
        env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("simple run run_")  # the run has started
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    run_id = err.split("detached; run ", 1)[1].split()[0]
    assert f"orchard watch {run_id}" in err and f"orchard cancel {run_id}" in err
    watched = orchard("watch", run_id, "--output", "quiet", env=env, cwd=repo)
    assert watched.returncode == 0 and "success" in watched.stdout


def test_orchard_yaml_gives_defaults_and_a_bad_one_is_one_line(embedded, repo):
    _, env, _, _ = embedded
    (repo / "orchard.yaml").write_text(f"agent_command: \"{DEMO_AGENT}\"\nstrategies:\n  best-of-n: {{n: 2, tie_break: random}}\n")
    ran = orchard("run", "from config", "--strategy", "best-of-n", "--output", "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    assert len(json.loads(ran.stdout.strip().splitlines()[-1])["instances"]) == 2
    overridden = orchard("run", "cli wins", "--strategy", "best-of-n", "-S", "n=1", "--output", "json", env=env, cwd=repo)
    assert len(json.loads(overridden.stdout.strip().splitlines()[-1])["instances"]) == 1
    (repo / "orchard.yaml").write_text("runner: {timeout: soon}\n")
    bad = orchard("run", "x", env=env, cwd=repo)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "orchard.yaml: runner.timeout:" in bad.stderr


async def test_a_bare_named_server_gets_orchards_search_attributes(repo, tmp_path):
    from temporalio.testing import WorkflowEnvironment

    from client.embedded.dev_settings import temporal_binary

    env = orchard_env(tmp_path / "home")
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), dev_server_log_level="error") as bare:
        address = bare.client.service_client.config.target_host
        ran = orchard("run", "x", "--address", address, "--with-worker", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
        assert ran.returncode == 0, ran.stderr
        listed = orchard("list", "--address", address, "--strategy", "simple", "--status", "success", "--output", "json", env=env, cwd=repo)
        assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [ran.stdout.split()[0]]


def test_temporal_address_from_the_environment_and_exit_3_for_failed_instances(named_server, repo, tmp_path):
    env = orchard_env(tmp_path / "home", TEMPORAL_ADDRESS=named_server)
    agent = f"DEMO_AGENT_ONLY_KEY=candidate/2 DEMO_AGENT_FAIL='out of credits' {DEMO_AGENT}"
    ran = orchard("run", "x", "--with-worker", "--task-queue", f"env-{uuid.uuid4().hex[:6]}", "--strategy", "best-of-n", "-S", "n=2", "--agent-command", agent,
                  "--output", "streaming", env=env, cwd=repo)
    assert ran.returncode == 3, ran.stderr
    assert "out of credits" in ran.stdout and "partial" in ran.stdout
    assert not (tmp_path / "home" / "temporal.pid").exists()  # no embedded server was started


def test_a_run_whose_strategy_code_fails_says_so_in_every_output_and_a_cancel_ends_it(named_server, repo, tmp_path):
    env = orchard_env(tmp_path / "home")
    broken = str(ROOT / "tests" / "strategy_files" / "clock.py")
    common = ["--address", named_server, "--with-worker", "--strategy", broken, "--agent-command", DEMO_AGENT]
    quiet = orchard("run", "x", *common, "--task-queue", f"broken-{uuid.uuid4().hex[:6]}", "--output", "quiet", env=env, cwd=repo, timeout=60)
    assert quiet.returncode == 1 and quiet.stdout.split()[1] == "stuck"
    assert "the strategy's code fails" in quiet.stderr and "Cannot access time.time" in quiet.stderr
    as_json = orchard("run", "x", *common, "--task-queue", f"broken-{uuid.uuid4().hex[:6]}", "--output", "json", env=env, cwd=repo, timeout=60)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert as_json.returncode == 1 and events[-1]["status"] == "stuck" and "Cannot access time.time" in events[-1]["error"]
    assert [e for e in events if e["type"] == "strategy_failure"]

    # Its worker left with `orchard run`; the run cannot carry a cancel out, so cancel ends it.
    run_id = events[-1]["run_id"]
    cancelled = orchard("cancel", run_id, "--address", named_server, env=env, cwd=repo, timeout=30)
    assert cancelled.returncode == 0 and f"run {run_id}: terminated, since its strategy code fails" in cancelled.stdout
    shown = orchard("show", run_id, "--address", named_server, "--output", "json", env=env, cwd=repo)
    assert json.loads(shown.stdout)["status"] == "terminated"


def test_a_full_disk_under_orchard_home_is_one_line_and_starts_nothing(tmp_path, repo):
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(home)], check=True)  # root, as in CI
    try:
        write_dev_config(home)
        env = orchard_env(home)
        assert orchard("run", "x", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo).returncode == 0
        (run_id,) = [json.loads(line)["run_id"] for line in orchard("list", "--output", "json", env=env, cwd=repo).stdout.splitlines()]
        subprocess.run(["dd", "if=/dev/zero", f"of={home / 'filler'}", "bs=1M"], capture_output=True)
        out = orchard("run", "x", "--agent-command", DEMO_AGENT, env=env, cwd=repo)  # checked before anything starts
        assert out.returncode == 2 and out.stderr.startswith(f"orchard: the disk holding {home} is full") and out.stderr.count("\n") == 1, out.stderr
        (home / "filler").unlink()
        assert [json.loads(line)["run_id"] for line in orchard("list", "--output", "json", env=env, cwd=repo).stdout.splitlines()] == [run_id]
    finally:
        stop_embedded(home)
        subprocess.run(["umount", "-l", str(home)])


def test_a_megabyte_prompt_from_a_file_or_stdin_reaches_the_agent_whole_and_stays_out_of_the_history(named_server, repo, tmp_path):
    env = orchard_env(tmp_path / "home")
    prompt = "Write the spec to `SPEC.md`.\n" + "".join(f"- requirement {i:05d}: the service answers within {i % 97} ms\n" for i in range(20_000))
    assert len(prompt.encode()) > 1_000_000
    task = tmp_path / "task.md"
    task.write_text(prompt)
    common = ["--address", named_server, "--with-worker", "--task-queue", f"big-{uuid.uuid4().hex[:6]}", "--agent-command", DEMO_AGENT, "--output", "json"]
    from_file = orchard("run", "--prompt-file", str(task), *common, env=env, cwd=repo)
    from_stdin = subprocess.run(orchard_argv("run", "-", *common), input=prompt, env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    for ran in (from_file, from_stdin):
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout.strip().splitlines()[-1])
        (instance,) = result["instances"]
        assert prompt.strip() in git(repo, "show", f"{instance['branch_name']}:SPEC.md")  # whole, to the last byte
        history = tmp_path / f"{result['run_id']}.json"
        assert orchard("history", result["run_id"], "--address", named_server, "-o", str(history), env=env, cwd=repo).returncode == 0
        assert history.stat().st_size < 100_000 and f"[orchard prompt sha256:{digest}, {len(prompt.encode())} bytes]" in _payloads(history)

    for args, said in [
        (["--prompt-file", str(tmp_path / "missing.md")], f"orchard: --prompt-file {tmp_path / 'missing.md'}: No such file or directory"),
        (["x", "--prompt-file", str(task)], "orchard: give the prompt once: as the argument, or with --prompt-file, not both"),
        ([], "orchard: a prompt is needed"),
    ]:
        bad = orchard("run", *args, *common, env=env, cwd=repo)
        assert bad.returncode == 2 and bad.stderr.startswith(said) and bad.stderr.count("\n") == 1, bad.stderr


def test_runs_env_and_a_flat_branch_namespace_as_pitaya_users_give_them(named_server, repo, tmp_path):
    secret = "sk-ant-" + uuid.uuid4().hex
    env = orchard_env(tmp_path / "home", FOO="from the shell", ANTHROPIC_API_KEY=secret)
    agent = "printf '%s|%s|%s' \"$FOO\" \"$BAR\" \"$(printf %s \"$ANTHROPIC_API_KEY\" | sha256sum | cut -c1-8)\" > env.txt && git add -A && git commit -qm env"
    ran = orchard(
        "run", "x", "--address", named_server, "--with-worker", "--task-queue", f"env-{uuid.uuid4().hex[:6]}", "--runs", "2",
        "--env", "FOO", "--env", "BAR=2", "--env", "ANTHROPIC_API_KEY", "--branch-namespace", "flat", "--agent-command", agent, "--output", "json",
        env=env, cwd=repo,
    )
    assert ran.returncode == 0, ran.stderr
    results = [json.loads(line) for line in ran.stdout.splitlines() if json.loads(line)["type"] == "result"]
    assert len(results) == 2 and results[0]["run_id"] != results[1]["run_id"]  # the whole strategy twice, as two runs
    digest = hashlib.sha256(secret.encode()).hexdigest()[:8]
    for result in results:
        (instance,) = result["instances"]
        assert instance["branch_name"] == f"orchard/{result['run_id']}-k{key_hash8('simple')}"
        assert git(repo, "show", f"{instance['branch_name']}:env.txt") == f"from the shell|2|{digest}"
        history = tmp_path / "history.json"
        history.unlink(missing_ok=True)
        assert orchard("history", result["run_id"], "--address", named_server, "-o", str(history), env=env, cwd=repo).returncode == 0
        payloads = _payloads(history)
        assert "from the shell" in payloads and '"worker_env":["ANTHROPIC_API_KEY"]' in payloads and secret not in payloads


def _payloads(history: Path) -> str:
    """Every payload of an exported history, decoded."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history.read_text()))
    return "\n".join(found)


def test_orchard_server_runs_in_the_foreground_and_runs_use_it(tmp_path, repo):
    home = tmp_path / "home"
    port, ui_port = write_dev_config(home)
    env = orchard_env(home)
    server = subprocess.Popen(orchard_argv("server"), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        assert f"on 127.0.0.1:{port}, UI http://127.0.0.1:{ui_port}" in server.stdout.readline()
        deadline = time.monotonic() + 30
        while orchard("server", "status", env=env, cwd=repo).returncode != 0:
            assert time.monotonic() < deadline and server.poll() is None, server.stdout.read() if server.poll() is not None else "no answer in 30 s"
            time.sleep(0.3)
        ran = orchard("run", "x", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
        assert ran.returncode == 0, ran.stderr
        assert not (home / "temporal.pid").exists()  # the running server was used, none started
        again = orchard("server", env=env, cwd=repo)  # a second one would only fail on the port
        assert again.returncode == 2 and again.stderr.count("\n") == 1
        assert f"a Temporal server already answers on 127.0.0.1:{port}; use it as it is, or stop it first" in again.stderr
    finally:
        stop_embedded(home)
        server.send_signal(signal.SIGINT)
        server.wait(30)


def test_a_child_strategys_run_is_listed_with_its_parent(named_server, repo, tmp_path):
    env = orchard_env(tmp_path / "home")
    queue = f"children-{uuid.uuid4().hex[:6]}"
    spec = str(ROOT / "tests" / "strategy_files" / "registering.py")
    ran = orchard("run", "x", "--address", named_server, "--task-queue", queue, "--with-worker", "--strategy", spec, "--agent-command", DEMO_AGENT, "--output",
                  "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    (child,) = result["children"]
    listed = orchard("list", "--address", named_server, "--strategy", "uses-helper", "--repo", str(repo), "--output", "json", env=env, cwd=repo)
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [result["run_id"]]
    assert orchard("list", "--address", named_server, "--strategy", "helper", "--repo", str(repo), env=env, cwd=repo).stdout == ""  # only top-level runs
    both = orchard("list", "--address", named_server, "--children", "--repo", str(repo), "--output", "json", env=env, cwd=repo)
    rows = {row["run_id"]: row for row in map(json.loads, both.stdout.splitlines())}
    assert rows[child["run_id"]]["parent"] == result["run_id"] and rows[result["run_id"]]["parent"] is None
    shown = orchard("show", result["run_id"], "--address", named_server, env=env, cwd=repo)
    assert "child helper helper success, 1 instance, cost" in shown.stdout


def test_show_of_a_candidate_that_failed_verification_gives_the_end_of_its_output_and_its_log(embedded, repo):
    _, env, _, _ = embedded
    check = 'if grep -rq robustness demo; then echo "FAILED test_greeting: got [robustness]"; exit 1; fi'  # candidate 2's hint
    ran = orchard("run", "add a greeting", "--strategy", "best-of-n", "-S", "n=2", "-S", f"verify={check}", "--agent-command", DEMO_AGENT,
                  "--output", "quiet", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    shown = orchard("show", ran.stdout.split()[0], env=env, cwd=repo)
    assert shown.returncode == 0, shown.stderr
    said = shown.stdout.splitlines()
    failed = next(line for line in said if line.startswith("candidate/2: verification log (exit 1): "))
    log = Path(failed.split("(exit 1): ")[1])
    assert "FAILED test_greeting: got [robustness]" in log.read_text()
    assert said[said.index(failed) + 2] == "  | FAILED test_greeting: got [robustness]"  # under the command's own line
    assert not any(line.startswith("candidate/1: verification") for line in said)
    assert shown.stdout.count("verification failed (exit 1)") == 1  # the candidate's note, said once
