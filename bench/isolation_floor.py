"""The isolation floor for a fan-out: the engine's floor (bench/engine_floor.py) with activities that
each do what an isolated instance cannot avoid, and nothing else of Orchard's.

    python bench/isolation_floor.py --address HOST:PORT --task-queue Q --base DIR --scratch DIR   (bench_fanout.py starts it)

Each activity, as Orchard's no-op instance does on this host:
- makes a copy-on-write workspace: an overlay of `--base` (a checkout of the bench's repository,
  made once) mounted with mount(2) and Orchard's mount options, on an upper and a work folder of its own;
- runs the same isolated `true`: bubblewrap with the arguments Orchard's sandbox runner gives a no-op
  command agent (its plan made once, with this activity's folders put in), bubblewrap's options and
  the agent's argv passed on memfds, `bash -c LAUNCH` execing `bash -c true`, its output read to the end;
- unmounts the workspace (umount2, lazily) and removes its layers, workspace and agent home.
On the same trivial unsandboxed workflow as the engine's floor, one worker process, with asyncio
waiting for children on pidfds. Its workspaces are mounted under a folder no recursive bind copies
(Isolation._unbindable; `--bindable`: as Orchard's), so bubblewrap's `--ro-bind / /` does not take in,
remount and race with every other workspace being mounted or unmounted. What it leaves out is what Orchard adds on top of isolation: a run's
workflow in the sandbox with each instance's progress, budget and result; Orchard's own git
directory beside the workspace and the agent's `.git` made in it; taking the agent's work and
recording the result; heartbeats, quota, orphans and the running record; the sandbox's plan per
instance and the threads the blocking steps run on.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio import activity, workflow  # noqa: E402

from bench.engine_floor import serve  # noqa: E402

ISOLATION_WORKFLOW = "isolation-floor"
SETUP_ATTEMPTS, SETUP_BACKOFF = 3, 0.2
"""As Orchard's sandbox runner (activities/runners/sandbox/runner.py): bubblewrap remounting the host's
mounts read-only can lose a race with another workspace's mount or unmount; it is asked again."""
MNT_DETACH, MS_BIND, MS_UNBINDABLE = 2, 4096, 1 << 17


class Isolation:
    """What each activity needs, made once: the base, the folders, bubblewrap's arguments with placeholders."""

    def __init__(self, base: Path, scratch: Path, unbindable: bool = True) -> None:
        os.environ["ORCHARD_HOME"] = str(scratch / "orchard-home")  # what the sandbox hides and shows, as a worker's
        from activities.runners.sandbox.mounts import bwrap_argv
        from activities.runners.sandbox.runner import LAUNCH, plan_for, private_tmp
        from workflows.sdk.models import TaskSpec

        self.base, self.home = base, scratch / "orchard-home"
        self.libc = ctypes.CDLL(None, use_errno=True)
        if unbindable:
            self._unbindable(self.home / "ws")
        self.launch, self.private_tmp = LAUNCH, private_tmp
        self.options = self._mount_options()
        self.template_ws, self.template_home = self.home / "ws" / "TEMPLATE", self.home / "agents" / "TEMPLATE"
        task = TaskSpec(prompt="nothing to do", base_branch="main", plugin="command", agent_command="true")
        plan = plan_for(task, "bash", workspace=self.template_ws, agent_home=self.template_home, objects=base, relayed_hosts=[])
        self.bwrap, *self.flags = bwrap_argv(plan)
        self.bwrap = shutil.which(self.bwrap) or self.bwrap

    def _unbindable(self, folder: Path) -> None:
        """The workspaces' `folder` a mount of its own that no recursive bind copies: bubblewrap's
        `--ro-bind / /` leaves out the workspaces mounted in it (the sandbox hides Orchard's home under
        a tmpfs and binds its own workspace there anyway), so it neither remounts each of them
        read-only nor loses a race with one being mounted or unmounted meanwhile. (Their layers stay
        on a bindable mount: overlayfs clones its upper layer's mount.) Orchard's layout does not do
        this: see docs/benchmarks.md."""
        folder.mkdir(parents=True, exist_ok=True)
        for source, flags in ((os.fsencode(folder), MS_BIND), (None, MS_UNBINDABLE)):
            if self.libc.mount(source, os.fsencode(folder), None, flags, None) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(folder))

    def _mount_options(self) -> str:
        """Orchard's fast options where the kernel takes them (activities/git/overlay.py's probe)."""
        from activities.git.overlay import FAST_OPTIONS, mount_overlay

        probe = self.home / ".probe"
        for options in (FAST_OPTIONS, ""):
            folders = [probe / name for name in ("lower", "upper", "work", "merged")]
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            try:
                mount_overlay(folders[0], folders[1], folders[2], folders[3], options)
            except OSError:
                continue
            finally:
                self.libc.umount2(os.fsencode(folders[-1]), MNT_DETACH)
                shutil.rmtree(probe, True)
            return options
        raise SystemExit("overlays cannot be mounted here (the isolation floor needs root)")

    async def instance(self, i: int) -> int:
        from activities.git.overlay import mount_overlay

        ws, layers, agent_home = self.home / "ws" / f"k{i}", self.home / "layers" / f"k{i}", self.home / "agents" / f"k{i}"
        tmp = self.private_tmp(agent_home)
        for folder in (layers / "upper", layers / "work", ws, agent_home, tmp):
            folder.mkdir(parents=True, exist_ok=True)
        mount_overlay(self.base, layers / "upper", layers / "work", ws, self.options)
        try:
            flags = [f.replace(str(self.template_ws), str(ws)).replace(str(self.template_home), str(agent_home)) for f in self.flags]
            for attempt in range(1, SETUP_ATTEMPTS + 1):
                code, out = await self._isolated_true(flags, ws)
                if code == 0:
                    return attempt
                if not out.startswith(b"bwrap:") or attempt == SETUP_ATTEMPTS:
                    raise RuntimeError(f"the isolated `true` exited {code}: {out.decode(errors='replace')[-500:]}")
                await asyncio.sleep(SETUP_BACKOFF * attempt)  # bubblewrap lost a race with another workspace's mount, as Orchard's sandbox retries
            raise AssertionError("unreachable")
        finally:
            self.libc.umount2(os.fsencode(ws), MNT_DETACH)
            for folder in (layers, ws, agent_home, tmp):
                shutil.rmtree(folder, True)

    async def _isolated_true(self, flags: list[str], ws: Path) -> tuple[int | None, bytes]:
        fds = [_memfd(flags), _memfd(["bash", "-c", "true"])]
        try:
            proc = await asyncio.create_subprocess_exec(
                self.bwrap, "--args", str(fds[0]), "--", "bash", "-c", self.launch, str(fds[1]), pass_fds=fds, cwd=ws,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
            out, _ = await proc.communicate()
        finally:
            for fd in fds:
                os.close(fd)
        return proc.returncode, out


def _memfd(args: list[str]) -> int:
    fd = os.memfd_create("floor-args")
    os.write(fd, b"".join(os.fsencode(a) + b"\0" for a in args))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_isolation: Isolation | None = None


@activity.defn(name="isolation-floor-instance")
async def isolated_noop(i: int) -> int:
    """How many times bubblewrap was started to run its `true` (1: no set-up retry)."""
    assert _isolation is not None
    return await _isolation.instance(i)


@workflow.defn(name=ISOLATION_WORKFLOW, sandboxed=False)
class IsolationFloorWorkflow:
    @workflow.run
    async def run(self, n: int, parallel: int) -> int:
        free = asyncio.Semaphore(parallel)

        async def one(i: int) -> int:
            async with free:
                return await workflow.execute_activity(isolated_noop, i, start_to_close_timeout=timedelta(seconds=60))

        return sum(await asyncio.gather(*(one(i) for i in range(n))))  # bubblewrap's starts: n and its set-up retries


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--base", required=True, type=Path, help="the lower layer: a checkout of the bench's repository")
    parser.add_argument("--scratch", required=True, type=Path)
    parser.add_argument("--bindable", action="store_true", help="leave the workspaces' folder bindable, as Orchard's (bubblewrap then remounts each)")
    args = parser.parse_args()
    from orchard_worker.child_watcher import use_pidfd_watcher

    use_pidfd_watcher()
    _isolation = Isolation(args.base, args.scratch, unbindable=not args.bindable)
    asyncio.run(serve(args.address, args.task_queue, IsolationFloorWorkflow, isolated_noop))
