"""The sandbox runner's decisions, without starting one: which runner the default picks, what an
agent's sandbox hides and shows (bubblewrap's arguments), and what `orchard doctor` says of it.
What a sandbox does to a real agent: test_sandbox.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.runners import choice, sandbox
from activities.runners.choice import choose_runner
from activities.runners.sandbox.mounts import SandboxPlan, Visibility, bwrap_argv, hidden_roots, masked_in, named_paths, toolchains
from activities.runners.sandbox.system import system_binds
from workflows.sdk.models import TaskSpec

NO_BUBBLEWRAP = "bubblewrap is not installed (install it with `apt-get install bubblewrap`)"


def task(**kw) -> TaskSpec:
    return TaskSpec(prompt="p", base_branch="main", **kw)


async def test_auto_is_the_sandbox_wherever_bubblewrap_works_and_an_explicit_sandbox_stays_one(monkeypatch):
    monkeypatch.setattr(choice, "sandbox_problem", lambda egress="online": None)
    for plugin in ("command", "claude-code", "codex"):
        assert await choose_runner(task(plugin=plugin)) == ("sandbox", None)
    assert await choose_runner(task(plugin="codex", runner="local")) == ("local", None)
    monkeypatch.setattr(choice, "sandbox_problem", lambda egress="online": NO_BUBBLEWRAP)
    assert await choose_runner(task(plugin="command", runner="sandbox")) == ("sandbox", NO_BUBBLEWRAP)
    assert await choose_runner(task(plugin="command")) == ("local", NO_BUBBLEWRAP)  # said in the run's first line: NOT isolated


def test_the_probe_says_why_there_is_no_sandbox_and_proxy_egress_needs_a_root_worker(monkeypatch):
    # Neither shutil.which nor os.geteuid is patched: the session's workers run activities meanwhile,
    # and a probe they ran then would keep a wrong answer for the rest of the process.
    assert sandbox.probe(None) == NO_BUBBLEWRAP
    monkeypatch.setattr(sandbox, "_probe", lambda: None)
    monkeypatch.setattr(sandbox, "worker_uid", lambda: 1000)
    assert sandbox.sandbox_problem("offline") is None
    assert sandbox.sandbox_problem("proxy") == ("--network-egress proxy in a sandbox needs a root worker (this one runs as uid 1000); "
                                                "use offline, or --runner docker")
    assert sandbox.privilege_flags() == ["--unshare-user"]


def test_the_probe_asks_again_when_bubblewrap_fails_once(tmp_path):
    """One failure (a race with the host's mounts) is no answer for the whole process: the probe asks
    again, and only a bubblewrap that keeps failing means no sandbox."""
    count = tmp_path / "count"
    flaky = tmp_path / "bwrap-flaky"
    flaky.write_text(f'#!/bin/sh\necho x >> {count}\n[ $(wc -l < {count}) -ge 2 ] && exit 0\necho "bwrap: Can\'t mount proc" >&2\nexit 1\n')
    flaky.chmod(0o755)
    assert sandbox.probe(str(flaky)) is None and count.read_text().count("x") == 2
    broken = tmp_path / "bwrap-broken"
    broken.write_text(f'#!/bin/sh\necho x >> {tmp_path / "count2"}\necho "bwrap: No permissions" >&2\nexit 1\n')
    broken.chmod(0o755)
    assert sandbox.probe(str(broken)) == "bubblewrap cannot make a sandbox here (bwrap: No permissions; it needs root or unprivileged user namespaces)"
    assert (tmp_path / "count2").read_text().count("x") == sandbox.PROBE_ATTEMPTS


@pytest.fixture
def host(tmp_path: Path) -> Visibility:
    """A home with toolchains, a private folder with a linked CLI, a folder holding credentials, and $ORCHARD_HOME."""
    home = tmp_path / "home" / "user"
    for folder in (".pyenv/shims", ".pyenv/versions/3.11/bin", ".local/bin", ".local/share/claude/versions", ".cargo/bin", ".ssh", "bin", "project"):
        (home / folder).mkdir(parents=True)
    (home / ".local/share/claude/versions/2.0").write_text("the CLI")
    (home / ".local/bin/claude").symlink_to(home / ".local/share/claude/versions/2.0")
    (home / ".pyenv/versions/3.11/bin/python").write_text("python")
    (home / ".cargo/credentials.toml").write_text("token")
    (home / "project/agent.sh").write_text("echo hi")
    orchard = tmp_path / "orchard"
    (orchard / "bin").mkdir(parents=True)
    return Visibility(hidden=[tmp_path / "home", orchard], homes=[home], orchard_home=orchard, bound=[Path("/usr"), Path("/etc")])


def test_a_toolchain_on_path_in_a_home_is_shown_never_a_private_folder_the_home_or_orchards(host: Visibility):
    home = host.homes[0]
    path = os.pathsep.join(str(p) for p in (home / ".pyenv/shims", home / ".local/bin", home / ".cargo/bin", home, home / ".ssh",
                                             host.orchard_home / "bin", Path("/usr/bin")))
    shown = toolchains(host, path)
    # .ssh on PATH: the folder itself, as a PATH entry in a private folder is (never more of the home)
    assert shown == [home / ".pyenv", home / ".local/bin", home / ".local/share/claude/versions/2.0", home / ".cargo", home / ".ssh"]
    assert masked_in(shown) == [home / ".cargo/credentials.toml"]


def test_an_agent_commands_files_are_shown_not_the_folders_it_names(host: Visibility):
    home = host.homes[0]
    command = f"cd {home / 'project'} && {home / '.pyenv/versions/3.11/bin/python'} {home / 'project/agent.sh'} {home} # {home / '.ssh'}"
    assert named_paths(host, command) == [home / ".pyenv/versions/3.11", home / "project/agent.sh"]
    assert named_paths(host, None, str(home / ".local/bin/claude")) == [home / ".local/share/claude/versions/2.0", home / ".local/bin/claude"]
    # a path ends where a shell operator starts, and a variable's value that is a path is one
    arms = f'case "$ORCHARD_KEY" in a) X=1 {home / "project/agent.sh"};; *) SCRIPT={home / "project/agent.sh"} bash -c "$SCRIPT";; esac'
    assert named_paths(host, arms) == [home / "project/agent.sh"]
    assert named_paths(host, f"{home / 'project/agent.sh'}|cat>/dev/null") == [home / "project/agent.sh"]


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside the system directories, the homes and /tmp: where the root used to show everything."""
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm here")
    folder = Path(tempfile.mkdtemp(prefix="orchard-plan-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_outside_the_homes_a_bin_folder_on_path_shows_its_installation_never_a_repository_or_orchards_home(outside: Path):
    venv, project, srv = outside / "venv", outside / "project", outside / "srv"
    for folder in (venv / "bin", venv / "lib", project / ".git", project / "bin", srv / "orchard", srv / "bin"):
        folder.mkdir(parents=True)
    visibility = Visibility(hidden=[srv / "orchard"], homes=[], orchard_home=srv / "orchard", bound=[Path("/usr"), Path("/etc")])
    path = os.pathsep.join(str(p) for p in (venv / "bin", project / "bin", srv / "bin", srv, Path("/usr/bin")))
    # a virtualenv whole (its settings and libraries); a repository's bin alone; nothing that holds Orchard's home
    assert toolchains(visibility, path) == [venv, project / "bin", srv / "bin"]
    assert visibility.is_hidden(outside) and not visibility.is_hidden(Path("/usr/bin/git")) and visibility.is_hidden(Path("/var/lib"))


def test_hidden_folders_are_the_outermost_that_exist(tmp_path: Path):
    home = tmp_path / "h"
    (home / ".orchard").mkdir(parents=True)
    roots = hidden_roots(home / ".orchard", home)
    assert home in roots and home / ".orchard" not in roots and Path("/") not in roots
    assert all(r.exists() for r in roots) and Path("/var/run") not in roots  # a link into /run, hidden with it


def test_bubblewrap_binds_the_system_then_the_agents_folders_in_order_of_depth_and_leaves_nothing_else_writable(tmp_path: Path):
    orchard = Path("/srv/orchard")
    workspace, home, gateway = orchard / "workspaces/run/k1", orchard / "agent-homes/run/k1", orchard / "workspaces/run/k1-origin.git"
    objects = Path("/tmp/x/repo/.git/objects")
    system = ("--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--ro-bind", "/etc", "/etc")
    plan = SandboxPlan(workspace=workspace, agent_home=home, tmp=orchard / "agent-homes/run/k1.tmp", writable=[gateway],
                       shown=[Path("/home/dev/.pyenv"), Path("/home/dev/.pyenv/versions/3.11"), objects], masked=[Path("/home/dev/.cargo/credentials")],
                       system=system, network=False, hosts=Path("/h/hosts"))
    argv = bwrap_argv(plan)

    def at(*args: str) -> int:
        for i in range(len(argv) - len(args) + 1):
            if argv[i:i + len(args)] == list(args):
                return i
        raise AssertionError(f"{args} not in {argv}")

    assert argv[:14] == ["bwrap", *system, "--dev", "/dev", "--proc", "/proc"] and "/" not in argv[:at("--remount-ro", "/")]  # never the host's root
    private_tmp = at("--bind", str(plan.tmp), "/tmp")
    assert private_tmp < at("--tmpfs", "/tmp/x") < at("--ro-bind", str(objects), str(objects))  # what /tmp holds of the host's: a tmpfs of its own
    assert at("--ro-bind", "/home/dev/.pyenv", "/home/dev/.pyenv") and "--tmpfs" not in argv[private_tmp + 5:]  # nothing hidden: not bound at all
    assert "/home/dev/.pyenv/versions/3.11" not in argv  # inside a folder shown already
    assert at("--bind", str(home), str(home)) and at("--bind", str(workspace), str(workspace)) and at("--bind", str(gateway), str(gateway))
    assert at("--ro-bind", str(objects), str(objects))
    assert at("--ro-bind", "/dev/null", "/home/dev/.cargo/credentials") and at("--ro-bind", "/h/hosts", "/etc/hosts")
    assert at("--remount-ro", "/tmp/x") > at("--ro-bind", str(objects), str(objects))
    assert at("--remount-ro", "/") > max(i for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind", "--tmpfs", "--symlink"))  # what holds them
    assert at("--unshare-pid") and at("--unshare-net") and at("--die-with-parent") and argv[-2:] == ["--chdir", str(workspace)]
    online = bwrap_argv(SandboxPlan(workspace=workspace, agent_home=home, tmp=plan.tmp, network=True))
    assert "--unshare-net" not in online and "/etc/hosts" not in online


def test_the_system_directories_are_bound_whole_or_around_a_hidden_folder_in_them(tmp_path: Path):
    """A system directory that holds $ORCHARD_HOME (or the worker's home) is bound entry by entry,
    never the hidden folder, nor the folders on the way to it whole; a link is made as a link."""
    opt, usr = tmp_path / "opt", tmp_path / "usr"
    for folder in (opt / "tool/bin", opt / "srv/orchard/workspaces", opt / "srv/data", usr / "bin"):
        folder.mkdir(parents=True)
    (opt / "srv/notes.txt").write_text("n")
    (opt / "latest").symlink_to("tool")
    (tmp_path / "bin").symlink_to("usr/bin")
    dirs = (str(usr), str(tmp_path / "bin"), str(opt), str(tmp_path / "nix"))
    binds = system_binds((opt / "srv/orchard",), dirs)
    args = list(binds.args)
    assert binds.bound == (usr, opt / "srv/data", opt / "srv/notes.txt", opt / "tool")
    assert args == ["--ro-bind", str(usr), str(usr), "--symlink", "usr/bin", str(tmp_path / "bin"), "--symlink", "tool", str(opt / "latest"),
                    "--ro-bind", str(opt / "srv/data"), str(opt / "srv/data"), "--ro-bind", str(opt / "srv/notes.txt"), str(opt / "srv/notes.txt"),
                    "--ro-bind", str(opt / "tool"), str(opt / "tool")]
    assert system_binds((opt / "srv/orchard",), dirs) is binds  # once per process: a fan-out's instances share it
    assert system_binds((opt,), (str(opt),)).args == ()  # a hidden folder that is a system directory: not bound at all


async def test_doctor_says_whether_agents_run_in_a_sandbox_here(monkeypatch):
    from client.commands import doctor

    monkeypatch.setattr(doctor, "sandbox_problem", lambda: None)
    check = await doctor.check_sandbox()
    assert check.level == "ok" and check.detail.endswith(": the default runner here (each agent writes only its workspace and its own home)")
    monkeypatch.setattr(doctor, "sandbox_problem", lambda: NO_BUBBLEWRAP)
    check = await doctor.check_sandbox()
    assert (check.level, check.detail) == ("warn", f"{NO_BUBBLEWRAP}; by default agents run as local processes, NOT isolated (or in docker "
                                                   "containers, for claude-code and codex, where the engine and image are)")
