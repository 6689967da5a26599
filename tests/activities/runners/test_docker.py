"""The docker runner against a real engine and the agent image: the hardening a user would check
from inside the container, the network modes, leftovers, and the errors a user can run into."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.instance import run_instance
from activities.paths import workspaces_dir
from activities.runners.choice import choose_runner
from activities.runners.docker import DEFAULT_IMAGE
from activities.runners.docker.engine import LABEL_HOME, LABEL_KEY, LABEL_MANAGED, LABEL_RUN, container_name
from activities.runners.docker.relay import RelayPlan
from activities.runners.docker.runner import ContainerSpec, container_config, hosts_file
from activities.workspaces.removals import settled
from client.commands.clean import clean
from tests.conftest import DEMO_AGENT, containers_of, git, gone_within, orchard, orchard_env, require_docker
from workflows.sdk.models import InstanceInput, TaskDefaults, TaskSpec, instance_branch


@pytest.fixture(autouse=True)
def docker_needed(request):
    if "no_engine" not in request.keywords:
        require_docker()


def instance(repo, agent: str, run_id: str | None = None, **task) -> InstanceInput:
    run_id = run_id or f"run_dk_{uuid.uuid4().hex[:6]}"
    spec = TaskSpec(prompt="inspect", base_branch="main", agent_command=agent, runner="docker", **task)
    return InstanceInput(repo=str(repo), run_id=run_id, strategy="simple", key="k/1", branch=instance_branch("simple", run_id, "k/1"), task=spec)


async def run(inp: InstanceInput):
    result = await ActivityEnvironment().run(run_instance, inp)
    await settled()  # its workspace is removed after it returns (activities/workspaces/removals.py)
    return result


INSPECT = (
    "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
    "touch /etc/x 2>/dev/null && echo root-writable || echo root-read-only; "
    "touch /tmp/x && echo tmp-writable; "
    "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; "
    "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; "
    "echo \"workspace=$PWD home=$HOME\"; "
    "echo hi > inside.txt && git add inside.txt && git commit -qm 'commit from the container' && echo committed"
)


async def test_the_agent_runs_hardened_and_its_commit_lands_on_the_branch(repo, orchard_home):
    result = await run(instance(repo, INSPECT, network_egress="offline", memory_limit="512m"))
    assert result.success and result.runner == "docker", result.error
    out = result.final_message.splitlines()
    assert out[0] == "1000"  # the image's non-root user
    assert "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out
    assert "root-read-only" in out and "tmp-writable" in out
    assert "1024" in out and str(512 * 1024 * 1024) in out  # pids and memory limits
    assert "workspace=/workspace home=/home/agent" in out and "committed" in out
    assert git(repo, "log", "--format=%s", f"main..{result.branch_name}") == "commit from the container"
    assert git(repo, "show", f"{result.branch_name}:inside.txt") == "hi"
    run_id = result.branch_name.split("/")[2]
    assert containers_of(run_id) == [] and not workspaces_dir(run_id).exists()


@pytest.mark.parametrize("egress", ["offline", "proxy"])
async def test_without_network_the_agent_cannot_reach_the_hosts_services(repo, orchard_home, egress):
    """The same probe reaches a server the agent starts in its own container (the probe works) and
    not one listening on the host's loopback. (The positive control with `host` egress, the host's
    own network, is not run: this machine's rules allow containers with --network none only.)"""
    server = socket.create_server(("127.0.0.1", 0))  # listening: a connection from the host would succeed
    port = server.getsockname()[1]
    own = 20000 + (port + 1) % 10000
    probe = "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo {name}-reached || echo {name}-unreachable"
    agent = (
        f"node -e \"require('net').createServer(c => c.end()).listen({own}, '127.0.0.1')\" & "
        f"for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{own}) 2>/dev/null && break; sleep 0.05; done; "
        f"{probe.format(port=own, name='own')}; {probe.format(port=port, name='host')}; kill %1; "
        "getent hosts localhost >/dev/null && echo localhost-resolves"
    )
    try:
        result = await run(instance(repo, agent, network_egress=egress))
    finally:
        server.close()
    assert result.success and result.final_message.splitlines() == ["own-reached", "host-unreachable", "localhost-resolves"], result.final_message


@pytest.mark.no_engine
def test_the_container_is_hardened_labelled_and_gets_only_the_variables_it_names(tmp_path):
    spec = ContainerSpec(
        name="orchard-run-1", image="img:1", run_id="run_1", key="candidate/1", workspace=tmp_path / "ws",
        agent_home=tmp_path / "home", objects=tmp_path / "repo/.git/objects", user="1000:1000", network_egress="proxy",
        cpu_limit=1.5, memory_limit="2g", env_names=["ANTHROPIC_API_KEY"],
        relay=RelayPlan(host_dir=tmp_path / "relay", argv_prefix=["node", "/run/orchard-relay/relay.js", "127.0.0.1:443=/run/orchard-relay/0.sock", "--"],
                        loopback_hosts=["api.anthropic.com"]),
        hosts_file=tmp_path / "hosts", home=tmp_path / "orchard",
    )
    argv, options = container_config(spec, ["claude", "--print", "hi"], {"ANTHROPIC_API_KEY": "sk-1", "OTHER_SECRET": "no"})
    assert argv == ["node", "/run/orchard-relay/relay.js", "127.0.0.1:443=/run/orchard-relay/0.sock", "--", "claude", "--print", "hi"]
    assert options["labels"] == {LABEL_MANAGED: "1", LABEL_HOME: str(tmp_path / "orchard"), LABEL_RUN: "run_1", LABEL_KEY: "candidate/1"}
    assert options["user"] == "1000:1000" and options["working_dir"] == "/workspace"
    assert options["environment"] == {"HOME": "/home/agent", "ANTHROPIC_API_KEY": "sk-1"}
    host = options["host_config"]
    assert host["read_only"] and host["init"] and host["cap_drop"] == ["ALL"] and host["security_opt"] == ["no-new-privileges"]
    assert host["pids_limit"] == 1024 and host["nano_cpus"] == int(min(1.5, os.cpu_count() or 1) * 1e9)
    assert host["mem_limit"] == host["memswap_limit"] == "2g"
    assert host["network_mode"] == "none" and options["network_disabled"]  # no network sandbox at all
    assert host["binds"][f"{tmp_path}/hosts"] == {"bind": "/etc/hosts", "mode": "ro"}
    assert host["binds"][f"{tmp_path}/repo/.git/objects"] == {"bind": "/orchard/objects", "mode": "ro"}
    assert host["tmpfs"] == {"/tmp": "rw,exec,nosuid,nodev,size=1g"}
    for egress, mode in (("offline", "none"), ("host", "host"), ("online", None)):
        hosts = tmp_path / "hosts" if egress == "offline" else None
        _, other = container_config(ContainerSpec(**{**spec.__dict__, "network_egress": egress, "relay": None, "hosts_file": hosts}), ["x"], {})
        assert other["host_config"].get("network_mode") == mode, egress
        assert other["network_disabled"] == (egress == "offline"), egress
        assert ("/etc/hosts" in str(other["host_config"]["binds"])) == (egress == "offline"), egress


@pytest.mark.no_engine
def test_a_container_without_network_gets_loopback_names_and_the_relayed_hosts(orchard_home):
    offline, proxied = hosts_file([]), hosts_file(["api.anthropic.com"])
    assert offline != proxied and hosts_file([]) == offline  # one file per content
    assert "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" in offline.read_text()
    assert proxied.read_text() == offline.read_text() + "127.0.0.1\tapi.anthropic.com\n"
    assert oct(proxied.stat().st_mode & 0o777) == "0o644" and not list(proxied.parent.glob(".*"))


async def test_a_container_a_dead_worker_left_under_the_instances_name_is_replaced(repo, orchard_home):
    inp = instance(repo, "echo fresh", network_egress="offline")
    name = container_name(inp.run_id, inp.key)
    subprocess.run(["docker", "create", "--name", name, f"--label={LABEL_RUN}={inp.run_id}", DEFAULT_IMAGE, "sleep", "600"], check=True, capture_output=True)
    result = await run(inp)
    assert result.success and result.final_message == "fresh", result.error
    assert containers_of(inp.run_id) == []  # the old one was removed, the new one too once it ended


async def test_a_missing_image_is_a_clear_error_that_is_not_retried(repo, orchard_home):
    inp = instance(repo, "true", docker_image="orchard-no-such-image:1")
    with pytest.raises(ApplicationError) as caught:
        await run(inp)
    assert caught.value.type == "BadInput" and caught.value.non_retryable
    assert "orchard-no-such-image:1 is not on this Docker host; build it with `docker build" in str(caught.value)
    # asked while the workspace was prepared (the runner named): the workspace is removed and no container was made
    assert containers_of(inp.run_id) == [] and not any(workspaces_dir(inp.run_id).glob("*"))


NO_BUBBLEWRAP = "bubblewrap is not installed (install it with `apt-get install bubblewrap`)"


async def test_auto_runs_agent_clis_in_docker_and_commands_locally(monkeypatch):
    """Where bubblewrap cannot make a sandbox (auto's first choice: test_sandbox_plan.py), as
    before the sandbox runner: docker for the agent CLIs, local for commands, and why not isolated."""
    from activities.runners import choice

    monkeypatch.setattr(choice, "sandbox_problem", lambda egress="online": NO_BUBBLEWRAP)

    def task(**kw):
        return TaskSpec(prompt="p", base_branch="main", **kw)

    assert await choose_runner(task(plugin="command")) == ("local", NO_BUBBLEWRAP)
    assert await choose_runner(task(plugin="claude-code")) == ("docker", None)
    runner, problem = await choose_runner(task(plugin="codex", docker_image="orchard-no-such-image:1"))
    assert runner == "local" and "orchard-no-such-image:1 is not on this Docker host" in problem and NO_BUBBLEWRAP in problem
    assert await choose_runner(task(plugin="command", runner="docker")) == ("docker", None)
    assert (await choose_runner(task(plugin="claude-code", runner="docker", docker_image="orchard-no-such-image:1")))[0] == "docker"


async def test_clean_removes_leftovers_of_ended_runs_only(orchard_home, tmp_path):
    def leftover(run_id: str, home=orchard_home) -> None:
        labels = [f"{LABEL_MANAGED}=1", f"{LABEL_HOME}={home}", f"{LABEL_RUN}={run_id}"]
        subprocess.run(["docker", "create", *(f"--label={label}" for label in labels), DEFAULT_IMAGE, "true"], check=True, capture_output=True)
        (orchard_home / "workspaces" / run_id / "k1").mkdir(parents=True, exist_ok=True)
        (orchard_home / "agent-homes" / run_id / "k1").mkdir(parents=True, exist_ok=True)

    suffix = uuid.uuid4().hex[:6]
    ended, still_open, elsewhere = f"run_ended_{suffix}", f"run_open_{suffix}", f"run_elsewhere_{suffix}"
    leftover(ended)
    leftover(still_open)
    leftover(elsewhere, home=tmp_path / "another-home")  # another ORCHARD_HOME's worker on this engine: its run may be running
    (orchard_home / "runs" / ended).mkdir(parents=True)
    try:
        cleaned = await clean(None, open_run_ids={still_open})
        assert len(cleaned.containers) == 1 and len(cleaned.folders) == 4  # the other home's container stays
        assert containers_of(ended) == [] and len(containers_of(still_open)) == 1 and len(containers_of(elsewhere)) == 1
        assert not (orchard_home / "workspaces" / ended).exists() and (orchard_home / "workspaces" / still_open).exists()
        assert (orchard_home / "runs" / ended).is_dir()  # results are the user's
        assert (await clean(still_open, open_run_ids=set())).summary().startswith("removed 1 container(s), 2 folder(s)")
        assert (await clean(elsewhere, open_run_ids=set())).containers == [] and len(containers_of(elsewhere)) == 1
    finally:
        for cid in containers_of(still_open) + containers_of(ended) + containers_of(elsewhere):
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


@pytest.mark.slow
@pytest.mark.no_engine
def test_runner_docker_without_an_engine_is_one_line_and_nothing_starts(repo, tmp_path):
    home = tmp_path / "home"
    env = orchard_env(home, DOCKER_HOST="unix:///nonexistent/docker.sock")
    out = orchard("run", "x", "--runner", "docker", "--agent-command", DEMO_AGENT, env=env, cwd=repo)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "docker runner: the Docker engine at unix:///nonexistent/docker.sock is not reachable" in out.stderr
    assert not home.exists()


@pytest.mark.slow
@pytest.mark.no_engine
def test_doctor_names_credentials_but_never_their_values(repo, tmp_path):
    canary = "sk-canary-" + uuid.uuid4().hex
    home = tmp_path / "home"
    env = orchard_env(home, ANTHROPIC_API_KEY=canary, DOCKER_HOST="unix:///nonexistent/docker.sock")
    out = orchard("doctor", env=env, cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    assert canary not in out.stdout and "set: ANTHROPIC_API_KEY" in out.stdout
    assert "docker" in out.stdout and "not reachable" in out.stdout and "disk" in out.stdout
    down = orchard("doctor", "--address", "127.0.0.1:1", env=env, cwd=repo)
    assert down.returncode == 1 and "fail  temporal" in down.stdout


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flags", "orchard.yaml"])
def test_runner_and_image_come_from_flags_or_orchard_yaml(repo, tmp_path, how):
    home = tmp_path / "home"
    if how == "flags":
        args = ["--runner", "docker", "--docker-image", "orchard-no-such-image:2"]
    else:
        (repo / "orchard.yaml").write_text("runner: {type: docker, docker_image: 'orchard-no-such-image:2'}\n")
        args = []
    out = orchard("run", "x", "--agent-command", DEMO_AGENT, *args, env=orchard_env(home), cwd=repo)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "docker runner: the agent image orchard-no-such-image:2 is not on this Docker host; build it with" in out.stderr
    assert not home.exists()


@pytest.mark.no_engine
async def test_auto_without_docker_says_once_that_agents_are_not_isolated(monkeypatch, capsys):
    """Where bubblewrap cannot make a sandbox either, said once a run, with both reasons."""
    from activities.runners import choice
    from activities.runners.docker import status
    from client.run_steps import check_runner
    from workflows.sdk.models import TaskDefaults

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setattr(status, "_status", {})
    monkeypatch.setattr(choice, "sandbox_problem", lambda egress="online": NO_BUBBLEWRAP)
    await check_runner(TaskDefaults(plugin="codex"))
    await check_runner(TaskDefaults(plugin="command", agent_command="x"))
    await check_runner(TaskDefaults(plugin="claude-code", runner="local"))  # asked for: nothing to say
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "agents run as local processes, NOT isolated, because the Docker engine" in err[0] and NO_BUBBLEWRAP in err[0]
    assert err[1] == f"orchard: agents run as local processes, NOT isolated, because {NO_BUBBLEWRAP} (--runner local says you mean it)"


async def test_the_command_plugin_in_a_container_gets_the_runs_variables_and_a_worker_credential_by_name(repo, orchard_home, monkeypatch):
    token = "tok-" + uuid.uuid4().hex
    monkeypatch.setenv("ORCHARD_TEST_TOKEN", token)
    agent = "echo \"greeting=$GREETING\"; printf %s \"$ORCHARD_TEST_TOKEN\" | sha256sum | cut -c1-64"
    result = await run(instance(repo, agent, agent_env={"GREETING": "hello there"}, worker_env=["ORCHARD_TEST_TOKEN"], import_policy="never"))
    assert result.success, result.error
    assert result.final_message.splitlines() == ["greeting=hello there", hashlib.sha256(token.encode()).hexdigest()]
    monkeypatch.delenv("ORCHARD_TEST_TOKEN")
    with pytest.raises(ApplicationError, match="the run gives its agents ORCHARD_TEST_TOKEN from the worker's environment, which lacks it") as failed:
        await run(instance(repo, agent, worker_env=["ORCHARD_TEST_TOKEN"]))
    assert failed.value.non_retryable


async def test_what_an_agent_plants_in_its_git_setup_never_runs_on_the_host(repo, orchard_home, tmp_path):
    """A loop's iteration in a container plants a clean filter, an fsmonitor and a commit hook, and
    leaves its change uncommitted: the worker's own git (status, add, commit of the snapshot, as
    root on the host) runs none of them, and the workspace's config is the one it had before."""
    from activities.loops.iteration import run_iteration
    from activities.workspaces.kept import loop_workspace
    from workflows.loops.models import IterationInput

    pwned = tmp_path / "pwned"  # the host path the planted commands would write to
    plant = (
        f"git config filter.pwn.clean 'touch {pwned}-filter; cat' && echo '* filter=pwn' > .gitattributes && "
        f"git config core.fsmonitor 'touch {pwned}-fsmonitor; false' && "
        f"printf '#!/bin/sh\\ntouch {pwned}-hook\\n' > .git/hooks/prepare-commit-msg && chmod +x .git/hooks/prepare-commit-msg && "
        "echo changed > left-uncommitted.txt"
    )
    task = TaskSpec(prompt="plant", base_branch="main", agent_command=plant, runner="docker", network_egress="offline")
    inp = IterationInput(repo=str(repo), run_id="run_pl", loop_key="loop", iteration=1, attempt_key="1.0", branch="orchard/loop/run_pl/kloop",
                         start_commit=git(repo, "rev-parse", "main"), task=task)
    outcome = await ActivityEnvironment().run(run_iteration, inp)
    assert outcome.agent.runner == "docker" and outcome.snapshot.changed, outcome.agent.error
    assert git(repo, "show", f"{outcome.snapshot.commit}:left-uncommitted.txt") == "changed"  # the worker committed it
    assert sorted(p.name for p in tmp_path.glob("pwned*")) == []
    assert "pwn" not in (loop_workspace("run_pl", "loop") / ".git" / "config").read_text()


async def test_a_docker_run_wakes_the_engine_as_it_starts_with_a_container_it_never_starts_and_removes(orchard_home, monkeypatch):
    """The engine's first create after it has been idle a while is slow (0.2-0.8 s here): `orchard
    run` pays it while the run starts, with a container that never runs and is gone at once."""
    from activities.runners.docker import status
    from client import preflight

    woken: list[str] = []
    monkeypatch.setattr(status, "warm_up", lambda image: woken.append(image))
    assert (await preflight.runner(TaskDefaults(runner="docker", plugin="command", agent_command="true", docker_image=DEFAULT_IMAGE))).runner == "docker"
    assert gone_within(lambda: [] if woken else [0], 5.0) and woken == [DEFAULT_IMAGE]
    assert (await preflight.runner(TaskDefaults(runner="local", plugin="command", agent_command="true"))).runner == "local"
    assert woken == [DEFAULT_IMAGE]  # not for other runners

    monkeypatch.undo()
    status.warm_up(DEFAULT_IMAGE)
    status.warm_up("orchard-no-such-image:nope")  # an image the engine lacks: nothing to say here (the run says it)
    left = subprocess.run(["docker", "ps", "-a", "--filter", f"name={status.WARM_UP_PREFIX}", "--filter", f"label={LABEL_HOME}={orchard_home}",
                           "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    assert left.stdout.strip() == ""
