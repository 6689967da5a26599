"""The sandbox runner (bubblewrap): each escape an unattended agent could try, tried by a scripted
agent (`command` plugin, a script named in --agent-command) in a sandbox, where it is refused, and
with the local runner, where the same probe succeeds (a positive control: a probe that cannot
work would pass the first half alone). What is checked is what the probe did on the host (a
file there, a process gone, a connection accepted), not what it says. Then what the agent does
get: its workspace, home, git, the run's variables and credentials, its own /tmp."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.git.overlay import is_overlay, layers_of
from activities.git.workspace import prepare_workspace, remove_workspace
from activities.instance import run_instance
from activities.paths import agent_home_dir, workspaces_dir
from activities.workspaces.removals import settled
from tests.conftest import git, make_repo, require_sandbox
from workflows.sdk.models import InstanceInput, InstanceResult, TaskSpec, instance_branch

RUNNERS = pytest.mark.parametrize("runner", ["sandbox", "local"])


@pytest.fixture(autouse=True)
def sandbox_here() -> None:
    require_sandbox()


async def attempt(tmp_path: Path, repo: Path, runner: str, script: str, run_id: str | None = None, **task) -> InstanceResult:
    """Run `script` (bash) as the agent of one instance on `runner`; its result. The script is a
    file the agent command names, outside the workspace (in the sandbox: shown, read-only)."""
    probe = tmp_path / f"probe-{uuid.uuid4().hex[:6]}.sh"
    probe.write_text(script)
    run_id = run_id or f"run_sb_{uuid.uuid4().hex[:6]}"
    spec = TaskSpec(prompt="probe", base_branch="main", agent_command=f"bash {probe}", runner=runner, **{"import_policy": "never", "timeout": 60, **task})
    inp = InstanceInput(repo=str(repo), run_id=run_id, strategy="simple", key="k/1", branch=instance_branch("simple", run_id, "k/1"), task=spec)
    result = await ActivityEnvironment().run(run_instance, inp)
    await settled()  # its workspace is removed after it returns: what the agent left beyond it is looked at then
    assert result.runner == runner, result
    return result


def said(result: InstanceResult) -> list[str]:
    return (result.final_message or "").splitlines()


@RUNNERS
async def test_the_users_checkout_by_its_absolute_path(repo, orchard_home, tmp_path, runner):
    result = await attempt(tmp_path, repo, runner, f"echo escaped >> {repo}/README.md; echo escaped > {repo}/new.txt\n")
    escaped = "escaped" in (repo / "README.md").read_text() and (repo / "new.txt").exists()
    assert escaped == (runner == "local"), said(result)
    assert result.success == (runner == "local")


@RUNNERS
async def test_the_folders_above_the_workspace(repo, orchard_home, tmp_path, runner):
    result = await attempt(tmp_path, repo, runner, "echo escaped > ../../escaped.txt; echo escaped > ../escaped.txt\n")
    written = list((orchard_home / "workspaces").rglob("escaped.txt"))
    assert bool(written) == (runner == "local") and len(written) in (0, 2), said(result)


@contextlib.asynccontextmanager
async def a_sibling(repo: Path, orchard_home: Path):
    """Another run's workspace on this host, from the same commit: where overlays are mounted
    (root), an overlay of the same read-only base checkout the agent's workspace is made of."""
    sibling = workspaces_dir("run_sibling") / "k00000000"
    await prepare_workspace(str(repo), git(repo, "rev-parse", "main"), sibling, "orchard/sibling")
    try:
        yield sibling
    finally:
        await remove_workspace(sibling)


@RUNNERS
async def test_a_siblings_workspace(repo, orchard_home, tmp_path, runner):
    async with a_sibling(repo, orchard_home) as sibling:
        result = await attempt(tmp_path, repo, runner, f"echo escaped > {sibling}/escaped.txt; cat {sibling}/README.md\n")
        assert (sibling / "escaped.txt").exists() == (runner == "local"), said(result)
        assert ("# sample" in said(result)) == (runner == "local")


@RUNNERS
async def test_the_overlay_base_siblings_share(repo, orchard_home, tmp_path, runner):
    """A root agent remounts the base its siblings' workspaces are overlays of writable and writes
    there: with the local runner the write shows in a sibling's workspace. In a sandbox the base is
    not there (only as its own workspace's lower layer), and the agent has no capability to mount."""
    async with a_sibling(repo, orchard_home) as sibling:
        if not is_overlay(sibling):
            pytest.skip("workspaces are full checkouts here: there is no shared base")
        tree = Path((layers_of(sibling) / "base").read_text()) / "tree"
        script = f"mount -o remount,rw,bind {tree} {tree}; echo escaped > {tree}/escaped.txt\n"
        try:
            result = await attempt(tmp_path, repo, runner, script)
            assert (tree / "escaped.txt").exists() == (runner == "local"), said(result)
            assert (sibling / "escaped.txt").exists() == (runner == "local")
        finally:
            with contextlib.suppress(OSError):  # the base of later tests is a new one: this one goes with its last workspace
                subprocess.run(["mount", "-o", "remount,ro,bind", str(tree), str(tree)], capture_output=True)


@pytest.mark.slow  # the fast part is at its limit: these two came with the sandbox's own bind plan
@RUNNERS
async def test_a_siblings_mount_and_the_hosts_other_mounts(repo, orchard_home, tmp_path, runner):
    """The host's mount table: a sandbox has its own, with its workspace and the system's
    directories; no other workspace's mount, nor any other mount of the host's, is in it."""
    async with a_sibling(repo, orchard_home) as sibling:
        if not is_overlay(sibling):
            pytest.skip("workspaces are full checkouts here: there is no mount to see")
        script = (f"cut -d' ' -f5 /proc/self/mountinfo > mounts.txt; grep -cx '{sibling}' mounts.txt; grep -c '^{orchard_home}/bases/' mounts.txt\n"
                  "grep -c -E '^/(var|run|home|mnt|srv)(/|$)' mounts.txt; grep -cx -E '/|/usr|/etc' mounts.txt\n")
        result = await attempt(tmp_path, repo, runner, script)
        sibling_seen, bases_seen, others_seen, system_seen = (int(n) for n in said(result))
        assert bool(sibling_seen) == bool(bases_seen) == (runner == "local"), said(result)
        if runner == "sandbox":
            assert (others_seen, system_seen) == (0, 3), said(result)


@contextlib.contextmanager
def a_folder_outside_the_systems() -> Iterator[Path]:
    """A folder of the host's outside its system directories, homes and /tmp (in /srv or /mnt)."""
    for parent in (Path("/srv"), Path("/mnt")):
        if parent.is_dir() and os.access(parent, os.W_OK):
            folder = Path(tempfile.mkdtemp(prefix="orchard-probe-", dir=parent))
            try:
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
    pytest.skip("no folder outside the system's, the homes and /tmp is writable here")


@pytest.mark.slow
@RUNNERS
async def test_a_checkout_outside_the_homes_and_tmp_gives_its_objects_not_its_files(orchard_home, tmp_path, runner):
    """The user's checkout in /srv (or /mnt), and a file beside it: the agent's git works (its
    objects are given, read-only), but neither the checkout's files nor its neighbour are read
    in a sandbox, where the host's root used to show them."""
    with a_folder_outside_the_systems() as folder:
        repo = make_repo(folder / "repo")
        (folder / "neighbour.txt").write_text("the neighbour's\n")
        script = f"cat {repo}/README.md {folder}/neighbour.txt; git log -1 --format=%s; echo escaped > {folder}/escaped.txt\n"
        result = await attempt(tmp_path, repo, runner, script)
        assert ("# sample" in said(result)) == (runner == "local") and ("the neighbour's" in said(result)) == (runner == "local"), said(result)
        assert "initial" in said(result) and (folder / "escaped.txt").exists() == (runner == "local")


@contextlib.contextmanager
def secrets_in_homes() -> Iterator[list[Path]]:
    """A secret file in the worker's home and, as root, in another user's home under /home."""
    made: list[Path] = []
    homes = [Path.home()]
    if os.geteuid() == 0:
        other = Path("/home") / f"orchard-probe-{uuid.uuid4().hex[:6]}"
        other.mkdir(parents=True)
        made.append(other)
        homes.append(other)
    secrets = [home / f".orchard-probe-secret-{uuid.uuid4().hex[:6]}" for home in homes]
    try:
        for secret in secrets:
            secret.write_text("the-secret\n")
        yield secrets
    finally:
        for path in secrets:
            path.unlink(missing_ok=True)
            path.with_name(path.name + "-escaped").unlink(missing_ok=True)
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


@RUNNERS
async def test_home_folders(repo, orchard_home, tmp_path, runner):
    with secrets_in_homes() as secrets:
        script = "".join(f"cat {s}; echo escaped > {s}-escaped\n" for s in secrets)
        result = await attempt(tmp_path, repo, runner, script)
        for secret in secrets:
            assert secret.with_name(secret.name + "-escaped").exists() == (runner == "local"), said(result)
        assert said(result).count("the-secret") == (len(secrets) if runner == "local" else 0)


@RUNNERS
async def test_orchard_home(repo, orchard_home, tmp_path, runner):
    """Its state: other runs' results (and workspaces, homes, bases, the running records)."""
    other = orchard_home / "runs" / "run_other" / "kabcdef12" / "final_message.md"
    other.parent.mkdir(parents=True)
    other.write_text("another run's secret\n")
    result = await attempt(tmp_path, repo, runner, f"cat {other}; echo escaped > {orchard_home}/escaped.txt\n")
    assert (orchard_home / "escaped.txt").exists() == (runner == "local"), said(result)
    assert ("another run's secret" in said(result)) == (runner == "local")


@RUNNERS
async def test_signalling_a_host_process(repo, orchard_home, tmp_path, runner):
    """kill by pid, pkill by name, and (in a sandbox, whose PID namespace is checked first) kill -9 -1."""
    marker = f"300.{uuid.uuid4().int % 10**6:06d}"
    host_process = subprocess.Popen(["sleep", marker])
    own_namespace = os.readlink("/proc/self/ns/pid")
    try:
        script = (f"kill -9 {host_process.pid}; pkill -9 -f 'sleep {marker}'\n"
                  f"if [ \"$(readlink /proc/self/ns/pid)\" != '{own_namespace}' ]; then kill -9 -1; echo own-pid-namespace; fi\necho survived\n")
        result = await attempt(tmp_path, repo, runner, script)
        with contextlib.suppress(subprocess.TimeoutExpired):
            host_process.wait(timeout=2 if runner == "local" else 0.2)
        assert (host_process.poll() is not None) == (runner == "local"), said(result)
        assert ("own-pid-namespace" in said(result)) == (runner == "sandbox") and "survived" in said(result)
    finally:
        host_process.kill()
        host_process.wait()


def this_hosts_address() -> str | None:
    """An address of this host beside loopback (none sent: a UDP socket only picks its route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def accepted(server: socket.socket) -> int:
    server.setblocking(False)
    count = 0
    while True:
        try:
            server.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


@pytest.mark.parametrize("runner, egress", [("sandbox", "offline"), ("sandbox", "proxy"), ("local", "offline")])
async def test_the_network_without_egress(repo, orchard_home, tmp_path, runner, egress):
    """A service on the host's loopback and on its own address: a sandbox with offline or proxy
    egress has loopback only (of its own); the local runner's agent uses the host's network whatever
    the egress says (the positive control)."""
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    targets = ["127.0.0.1", *([address] if (address := this_hosts_address()) else [])]
    script = "".join(f"(exec 3<>/dev/tcp/{t}/{port}) 2>/dev/null && echo reached {t}\n" for t in targets)
    try:
        result = await attempt(tmp_path, repo, runner, script, network_egress=egress)
        connections = accepted(server)
    finally:
        server.close()
    assert connections == (len(targets) if runner == "local" else 0), said(result)


async def test_what_the_agent_gets_its_workspace_home_tmp_git_and_only_its_variables(repo, orchard_home, tmp_path, monkeypatch):
    """Its workspace (git works there and its commit lands on the branch), its own home as HOME, a
    /tmp of its own as TMPDIR (gone afterwards), the run's variables and the credentials it is given
    by name: no other variable of the worker's (which the local runner's agent has: the control)."""
    monkeypatch.setenv("ORCHARD_PROBE_LEAK", "leaked-" + uuid.uuid4().hex)
    monkeypatch.setenv("ORCHARD_PROBE_TOKEN", "given-" + uuid.uuid4().hex)
    on_host = Path("/tmp") / f"orchard-probe-{uuid.uuid4().hex[:6]}"
    on_host.write_text("the host's\n")
    script = (f"echo \"home=$HOME tmp=$TMPDIR pwd=$PWD\"; echo in-tmp > \"$TMPDIR/x\" && cat /tmp/x; cat {on_host} 2>/dev/null || echo not-there\n"
              "env | grep -E '^(ORCHARD_PROBE|GREETING)' | sort\n"
              "echo hi > inside.txt && git add inside.txt && git commit -qm 'from the sandbox' && echo committed\n")
    result = await attempt(tmp_path, repo, "sandbox", script, run_id="run_sb_env", agent_env={"GREETING": "hello"}, worker_env=["ORCHARD_PROBE_TOKEN"],
                           import_policy="auto")
    lines = said(result)
    assert result.success, result.error
    assert lines[0] == f"home={agent_home_dir('run_sb_env', 'k/1')} tmp=/tmp pwd={workspaces_dir('run_sb_env') / Path(lines[0].split('/')[-1])}"
    on_host.unlink()
    assert lines[1:3] == ["in-tmp", "not-there"]  # a /tmp of its own: the host's files are not in it
    # the credential's value reached the agent: what it printed is redacted from the result
    assert lines[3:5] == ["GREETING=hello", "ORCHARD_PROBE_TOKEN=[redacted ORCHARD_PROBE_TOKEN]"] and lines[5] == "committed"
    assert git(repo, "log", "--format=%s", f"main..{result.branch_name}") == "from the sandbox"
    assert not list((orchard_home / "agent-homes").glob("*/*.tmp"))  # its /tmp went with it
    local = await attempt(tmp_path, repo, "local", "env | grep -c '^ORCHARD_PROBE_LEAK='\n")
    assert said(local) == ["1"]


async def test_tools_in_a_hidden_home_still_run(repo, orchard_home, tmp_path, monkeypatch):
    """The worker's Python (perhaps under a hidden home's .pyenv), and a tool on PATH in a folder under
    /tmp, run in the sandbox from where they are; the folder they are in is read-only there."""
    tools = tmp_path / "tools" / "bin"
    tools.mkdir(parents=True)
    (tools / "orchard-probe-tool").write_text("#!/bin/sh\necho tool-ran\n")
    (tools / "orchard-probe-tool").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    script = f"{sys.executable} -c 'print(\"python-ran\")'\norchard-probe-tool\ntouch {tools}/x 2>/dev/null || echo tools-read-only\n"
    result = await attempt(tmp_path, repo, "sandbox", script)
    assert said(result) == ["python-ran", "tool-ran", "tools-read-only"], result.error


@pytest.mark.slow
async def test_a_tool_installed_outside_the_system_directories_runs_from_its_installation(repo, orchard_home, tmp_path, monkeypatch):
    """A CLI installed in a prefix of its own outside the system's directories, the homes and /tmp
    (as npm's or a virtualenv's: its bin folder on PATH, the program in the prefix's lib, with a
    file beside it): it runs in the sandbox as it did when the host's root was there, read-only."""
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm here")
    prefix = Path(tempfile.mkdtemp(prefix="orchard-probe-prefix-", dir="/dev/shm"))
    try:
        (prefix / "bin").mkdir()
        (prefix / "lib/cli").mkdir(parents=True)
        (prefix / "lib/cli/helper.sh").write_text("echo cli-ran\n")
        (prefix / "lib/cli/main.sh").write_text('#!/bin/sh\n. "$(dirname "$(readlink -f "$0")")/helper.sh"\n')
        (prefix / "lib/cli/main.sh").chmod(0o755)
        (prefix / "bin/orchard-probe-cli").symlink_to("../lib/cli/main.sh")
        monkeypatch.setenv("PATH", f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}")
        result = await attempt(tmp_path, repo, "sandbox", f"orchard-probe-cli\ntouch {prefix}/lib/x 2>/dev/null || echo read-only\n")
        assert said(result) == ["cli-ran", "read-only"], (said(result), result.error)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


async def test_a_loops_agent_keeps_its_home_and_pushes_to_its_pipelines_gateway(repo, orchard_home):
    """A loop's (or pipeline's) home is the loop's: what iteration 1 left there, iteration 2 finds
    (a CLI's session and config persist). A pipeline agent's `origin`, the gateway, is writable."""
    from activities.loops.iteration import run_iteration
    from workflows.loops.models import IterationInput

    start = git(repo, "rev-parse", "main")
    first = ("echo remembered > \"$HOME/note\" && echo one > one.txt && git add one.txt && git commit -qm one "
             "&& git push -q origin HEAD:refs/heads/sandboxed && echo pushed")
    outcomes = []
    for n, command in ((1, first), (2, "cat \"$HOME/note\"")):
        task = TaskSpec(prompt="iterate", base_branch="main", agent_command=command, runner="sandbox", network_egress="offline")
        inp = IterationInput(repo=str(repo), run_id="run_sb_loop", loop_key="loop", iteration=n, attempt_key=f"{n}.0", branch="orchard/loop/run_sb_loop/kloop",
                             start_commit=outcomes[-1].snapshot.commit if outcomes else start, branch_exists=bool(outcomes), task=task,
                             publish=["sandboxed"])
        outcomes.append(await ActivityEnvironment().run(run_iteration, inp))
        assert outcomes[-1].agent.runner == "sandbox" and outcomes[-1].agent.success, outcomes[-1].agent.error
    assert outcomes[0].agent.final_message == "pushed" and git(repo, "log", "-1", "--format=%s", "sandboxed") == "one"
    assert outcomes[1].agent.final_message == "remembered"


async def test_a_sandbox_bubblewrap_failed_to_make_is_made_again_and_the_agent_runs_once(repo, orchard_home, tmp_path, monkeypatch):
    """Making a sandbox can lose a race with the host (a mount under a folder it binds read-only going
    away while bubblewrap remounts it): here the first sandboxes bind a folder that is gone. The
    sandbox is made again and the agent runs once (it counts its runs in its workspace, which every
    attempt shares); a sandbox that can never be made fails the instance with bubblewrap's own line,
    its agent never run."""
    from activities.runners.sandbox import runner as sandbox_runner

    real, made, gone, failing = sandbox_runner.bwrap_argv, [], tmp_path / "gone", {"times": 0}

    def racing(plan):
        made.append(plan)
        return [*real(plan), *(["--ro-bind", str(gone), "/mnt"] if len(made) <= failing["times"] else [])]

    monkeypatch.setattr(sandbox_runner, "bwrap_argv", racing)
    monkeypatch.setattr(sandbox_runner, "SETUP_BACKOFF", 0)
    counting = 'echo run >> runs.txt; git add runs.txt; git commit -qm counted; wc -l < runs.txt\n'
    attempts = sandbox_runner.SETUP_ATTEMPTS
    for run_id, failing["times"], succeeds in [("run_sb_race", attempts - 1, True), ("run_sb_never", attempts, False)]:
        made.clear()
        result = await attempt(tmp_path, repo, "sandbox", counting, run_id=run_id)
        assert len(made) == attempts and result.success is succeeds, result.error
        if succeeds:
            assert said(result) == ["1"]
        else:
            assert not result.has_changes and f"Can't find source path {gone}" in (result.error or ""), result.error


@RUNNERS
@pytest.mark.parametrize("launcher", ["", "env -i setsid"], ids=["background-job", "daemon"])
async def test_what_the_agent_left_running_is_gone_when_its_instance_ends(repo, orchard_home, tmp_path, runner, launcher):
    """In a sandbox nothing looks for leftovers after the agent (its PID namespace died with it); on
    the host they are looked for (by their tag, or the agent's output they hold) and killed. Either
    way none is left once the instance has ended."""
    marker = f"orchard-left-{uuid.uuid4().hex[:6]}"
    result = await attempt(tmp_path, repo, runner, f"{launcher} /bin/bash -c 'exec -a {marker} sleep 300' &\n"
                           f"for i in $(seq 100); do pgrep -f {marker} > /dev/null && echo started && break; sleep 0.05; done\n")
    assert result.success and "started" in said(result)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
