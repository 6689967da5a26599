#!/usr/bin/env python3
"""Pitaya and Orchard side by side: the same no-op agent, the same repositories, N at once.

    python bench/bench_pitaya.py --pitaya PATH [--sizes 1,8,16] [--files 20000] [--reps 1] [--dir DIR]

PATH is a checkout of Pitaya (github.com/tact-lang/pitaya); it is installed into a virtual
environment of its own under the scratch folder (Python 3.13, as Pitaya requires; packages from
the configured package index) and run from there: none of its code enters Orchard. Both run the
agent in Docker: an image made from Orchard's agent image (docker/, built locally) with a user
`node` (Pitaya's containers run as it) and a `claude` that answers at once with Claude Code's
stream-json (a no-op agent: it changes nothing), so no model, no network (`network_egress:
offline` in both). Pitaya runs `simple` `--runs N`; Orchard `simple --runs N` with the
claude-code plugin in the same image, on its embedded server, warm (a run before the measured
ones started it). Wall time is the command's. Peak disk is the most each one's own filesystem
held during the run, sampled every 50 ms: a tmpfs mounted for the bench where Pitaya puts its
workspaces (/tmp/pitaya, fixed in Pitaya) and another as Orchard's home, so no other work on the
machine shows in it (both tools then write to memory, not the disk: as root, which mounting
needs, Orchard's workspaces are overlays either way).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_first_agent import ORCHARD, wait_for_warm_client, write_dev_config  # noqa: E402
from bench.bench_instances import Repo, make_big_repo, make_small_repo, table  # noqa: E402

IMAGE = "orchard-bench-pitaya-noop:latest"
BASE_IMAGE = "orchard-agent:latest"
FAKE_CLAUDE = """#!/bin/sh
# A no-op agent speaking Claude Code's stream-json: it starts, says it is done, changes nothing.
echo '{"type":"system","subtype":"init","session_id":"noop-session","model":"noop","tools":[],"cwd":"/workspace"}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"nothing to do","session_id":"noop-session",\
"total_cost_usd":0,"num_turns":1,"duration_ms":1,"usage":{"input_tokens":1,"output_tokens":1}}'
"""
DOCKERFILE = f"""FROM {BASE_IMAGE}
USER root
RUN useradd -o -u 1000 -g 1000 -M -d /home/node -s /bin/sh node && mkdir -p /home/node && chown 1000:1000 /home/node
COPY claude /usr/local/bin/claude
RUN chmod 755 /usr/local/bin/claude
USER 1000
"""
AGENT_ENV = {"ANTHROPIC_API_KEY": "sk-ant-bench-noop"}
"""Both plugins want a credential before they start; the no-op agent never uses it."""


class Failed(Exception):
    """What could not be done, in one line."""


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise Failed(f"{' '.join(cmd[:4])}... exited {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}")
    return done


def python313() -> str:
    for candidate in [*sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")), shutil.which("python3.13")]:
        if candidate and subprocess.run([str(candidate), "--version"], capture_output=True).returncode == 0:  # a pyenv shim may name none
            return str(candidate)
    raise Failed("Pitaya needs Python 3.13 (requires-python ==3.13.*), and none is on this host")


def install_pitaya(checkout: Path, scratch: Path) -> Path:
    """Pitaya's `pitaya` command, installed from `checkout` into a venv of its own."""
    venv = scratch / "pitaya-venv"
    sh([python313(), "-m", "venv", str(venv)])
    sh([str(venv / "bin" / "pip"), "install", "-q", str(checkout)], timeout=900)
    return venv / "bin" / "pitaya"


def build_image(scratch: Path) -> None:
    context = scratch / "image"
    context.mkdir()
    (context / "claude").write_text(FAKE_CLAUDE)
    (context / "Dockerfile").write_text(DOCKERFILE)
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
        raise Failed(f"the agent image {BASE_IMAGE} is not here: build it with docker/build-offline-image.sh")
    sh(["docker", "build", "--network", "none", "-q", "-t", IMAGE, str(context)], timeout=600)


PITAYA_WORKSPACES = Path("/tmp/pitaya")


@contextlib.contextmanager
def own_filesystem(path: Path) -> Iterator[Path]:
    """A tmpfs mounted at `path` (which must be missing or empty) for the block."""
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise Failed(f"{path} is not empty: another Pitaya's workspaces? (the bench measures its own there)")
    sh(["mount", "-t", "tmpfs", "-o", "size=12g,mode=1777", "tmpfs", str(path)])
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
        with contextlib.suppress(OSError):
            path.rmdir()


class PeakDisk:
    """The most the filesystem holding `path` gained while in the block (bytes)."""

    def __init__(self, path: Path):
        self.path, self.peak, self._stop = path, 0, threading.Event()

    def _used(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def __enter__(self) -> PeakDisk:
        self.base = self._used()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._used() - self.base)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used() - self.base)


def run_pitaya(pitaya: Path, repo: Path, scratch: Path, n: int) -> tuple[float, int]:
    config = scratch / "pitaya.yaml"
    config.write_text("runner:\n  network_egress: offline\n")
    env = {**os.environ, **AGENT_ENV, "HOME": str(scratch / "pitaya-home")}
    with PeakDisk(PITAYA_WORKSPACES) as disk:
        started = time.monotonic()
        done = subprocess.run([str(pitaya), "noop", "--strategy", "simple", "--runs", str(n), "--max-parallel", str(n), "--plugin", "claude-code",
                               "--docker-image", IMAGE, "--repo", str(repo), "--base-branch", "main", "--config", str(config), "--no-tui",
                               "--output", "quiet", "--yes", "--state-dir", str(scratch / "pitaya-state"), "--logs-dir", str(scratch / "pitaya-logs"),
                               "--results-dir", str(scratch / "pitaya-results")],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=1800)
        took = time.monotonic() - started
    if done.returncode != 0:
        raise Failed(f"pitaya exited {done.returncode}: {(done.stderr or done.stdout).strip()[-600:]}")
    subprocess.run("docker ps -aq --filter label=pitaya=true | xargs -r docker rm -f", shell=True, capture_output=True)  # what it keeps for resumes
    for left in PITAYA_WORKSPACES.iterdir():  # and its workspaces: the next run starts from an empty filesystem, as Orchard's
        shutil.rmtree(left, ignore_errors=True)
    return took, disk.peak


def run_orchard(home: Path, repo: Path, n: int) -> tuple[float, int]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}, **AGENT_ENV, "ORCHARD_HOME": str(home)}
    with PeakDisk(home) as disk:
        started = time.monotonic()
        done = subprocess.run([str(ORCHARD), "run", "noop", "--strategy", "simple", "--runs", str(n), "--max-parallel", str(n), "--plugin", "claude-code",
                               "--runner", "docker", "--docker-image", IMAGE, "--network-egress", "offline", "--output", "quiet"],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=1800)
        took = time.monotonic() - started
    if done.returncode != 0:
        raise Failed(f"orchard exited {done.returncode}: {(done.stderr or done.stdout).strip()[-600:]}")
    return took, disk.peak


def measure(pitaya: Path, repos: list[Repo], home: Path, scratch: Path, sizes: list[int], reps: int) -> None:
    """Each repository at each N, the two taking turns; the table printed."""
    write_dev_config(home)
    for _ in range(2):  # the server, the worker and the warm client: Orchard as a user has it
        run_orchard(home, repos[0].path, 1)
    wait_for_warm_client(home)
    rows = []
    for repo in repos:
        for n in sizes:
            measured: dict[str, list[tuple[float, int]]] = {"pitaya": [], "orchard": []}
            for _ in range(reps):  # taking turns
                measured["pitaya"].append(run_pitaya(pitaya, repo.path, scratch, n))
                measured["orchard"].append(run_orchard(home, repo.path, n))
            wall = {k: statistics.median(t for t, _ in v) for k, v in measured.items()}
            disk = {k: statistics.median(d for _, d in v) for k, v in measured.items()}
            rows.append([repo.label, str(n), f"{wall['pitaya']:.2f} s", f"{wall['orchard']:.2f} s", f"{wall['pitaya'] / wall['orchard']:.1f}x",
                         f"{disk['pitaya'] / 2**20:.1f} MiB", f"{disk['orchard'] / 2**20:.1f} MiB",
                         f"{disk['pitaya'] / disk['orchard']:.1f}x" if disk["orchard"] > 0 else "-"])
            print(f"  {repo.label}, N = {n} measured", flush=True)
    table(f"Pitaya and Orchard, the same no-op agent in Docker, offline (median of {reps}; load {os.getloadavg()[0]:.1f})",
          ["repository", "N", "Pitaya wall", "Orchard wall", "Orchard faster", "Pitaya peak disk", "Orchard peak disk", "Orchard less disk"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pitaya", required=True, type=Path, help="a checkout of Pitaya")
    parser.add_argument("--sizes", default="1,8,16")
    parser.add_argument("--files", default="20000", help="the big repository's files (0: the small one only)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-pitaya-", dir=args.dir)).resolve()
    home = scratch / "orchard-home"
    try:
        with contextlib.ExitStack() as mounts:
            print("installing Pitaya into its own venv, building the no-op agent image...", flush=True)
            pitaya = install_pitaya(args.pitaya.resolve(), scratch)
            build_image(scratch)
            repos = [make_small_repo(scratch / "small", 5)] + ([make_big_repo(scratch / "big", int(args.files))] if int(args.files) else [])
            mounts.enter_context(own_filesystem(PITAYA_WORKSPACES))
            mounts.enter_context(own_filesystem(home))
            mounts.callback(lambda: subprocess.run([str(ORCHARD), "server", "stop"], env={**os.environ, "ORCHARD_HOME": str(home)},
                                                   capture_output=True, timeout=120))
            measure(pitaya, repos, home, scratch, sizes, args.reps)
    except Failed as e:
        print(f"bench_pitaya: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
