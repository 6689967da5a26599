"""The host's system directories a sandbox binds read-only: the part of its mounts that does not depend
on the agent, worked out once per worker process.

A sandbox binds these and nothing else of the host's tree (then the agent's own folders and what it
must see of others: mounts.py). Never `/` itself: bubblewrap binds recursively and then remounts each
mount beneath read-only, so binding `/` walked every mount on the host (other instances' overlay
workspaces, the overlay bases, Docker's containers) and failed when one of them went away meanwhile.
A system directory that holds a folder no agent sees (Orchard's home, the worker's home: HIDDEN)
is not bound whole but entry by entry around it. The standard library only: the probe uses it too.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix", "/gnu", "/sys")
"""Bound read-only where they exist: programs, their libraries and settings, what /opt, Nix and Guix
install, and /sys as the host has it. Not /var (logs, databases, Docker's and other runtimes'
mounts), /srv, /mnt, /media or another folder at the root: a tool from there runs when it is on the
worker's PATH or named by the agent's command (mounts.py shows it)."""
SYSTEM_HIDDEN = ("/root", "/home", "/run", "/var/run", "/var/tmp")
"""Hidden on every host: homes, and where services keep their sockets and other users their files."""


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def within(path: Path, root: Path) -> bool:
    """`path` is `root` or beneath it (both absolute and normalized). By their text: an agent's plan
    asks this hundreds of times, and walking a path's parents costs a fan-out's instances 3 % of a worker's CPU."""
    inner, outer = str(path), str(root)
    return inner == outer or inner.startswith(outer if outer.endswith("/") else outer + "/")


def hidden_roots(orchard_home: Path, home: Path | None = None) -> list[Path]:
    """The folders an agent does not see (those that exist), outermost only: a folder inside
    another hidden one is hidden with it."""
    candidates = [*(Path(p) for p in SYSTEM_HIDDEN), *([home] if home else []), orchard_home]
    found: list[Path] = []
    for candidate in candidates:
        if candidate.is_symlink() or not candidate.is_dir():  # /var/run is usually a link into /run
            continue
        real = _real(candidate)
        if real != Path("/") and real not in found:
            found.append(real)
    return [p for p in found if not any(other != p and within(p, other) for other in found)]


def binds_here(orchard_home: Path) -> SystemBinds:
    """The system binds of a sandbox of this worker (its home and Orchard's hidden)."""
    home = os.environ.get("HOME")
    return system_binds(tuple(hidden_roots(orchard_home, Path(home) if home else None)))


@dataclass(frozen=True)
class SystemBinds:
    """bubblewrap's arguments that make the sandbox's system directories, and what they bind."""

    args: tuple[str, ...]
    bound: tuple[Path, ...]
    """The real folders and files bound (a path within one is seen in the sandbox as on the host)."""


@functools.cache
def system_binds(hidden: tuple[Path, ...], dirs: tuple[str, ...] = SYSTEM_DIRS) -> SystemBinds:
    """The binds of `dirs` that exist, around the `hidden` folders (real paths): once per process and
    hidden set, as a fan-out's instances all ask the same. A link among them is made as a link
    (/bin -> usr/bin), and its target bound when no other bind holds it."""
    args: list[str] = []
    bound: list[Path] = []
    targets: list[Path] = []
    for name in dirs:
        path = Path(name)
        if path.is_symlink():
            with contextlib.suppress(OSError):
                args += ["--symlink", os.readlink(path), name]
                targets.append(_real(path))
        elif path.is_dir():
            _bind_around(path, hidden, args, bound)
    for target in targets:
        if target.is_dir() and not any(within(target, b) for b in bound):
            _bind_around(target, hidden, args, bound)
    return SystemBinds(args=tuple(args), bound=tuple(bound))


def _bind_around(folder: Path, hidden: tuple[Path, ...], args: list[str], bound: list[Path]) -> None:
    """`folder` read-only, whole when no hidden folder is in it; else each of its entries in turn
    (links as links), leaving the hidden ones out."""
    if any(within(folder, h) for h in hidden):
        return
    if not any(within(h, folder) for h in hidden):
        args += ["--ro-bind", str(folder), str(folder)]
        bound.append(folder)
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            with contextlib.suppress(OSError):
                args += ["--symlink", os.readlink(path), str(path)]
        elif entry.is_dir(follow_symlinks=False):
            _bind_around(path, hidden, args, bound)
        elif entry.is_file(follow_symlinks=False):
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
