"""What an agent in a sandbox sees: bubblewrap's arguments for one agent, from a plan of its paths.

The host's system directories read-only (system.py: /usr, /etc, /opt, ..., bound once per worker
process; never `/`, so no other mount on the host is walked, seen or raced with), /proc and /dev of
its own, /tmp a private folder of its own. Then, at their own paths: its workspace, its home and its
pipeline's gateway read-write, the object store its `.git` borrows read-only, and read-only what it
needs to run from elsewhere: the toolchains on the worker's PATH (a home's `.pyenv`, `.cargo`, ...;
never a folder that holds credentials, whose file alone is shown; outside the homes, a `bin`
folder's installation) and the files an `--agent-command` names by their absolute path. Nothing
else: not the homes (/root, /home, the worker's), /run, /var, $ORCHARD_HOME (other runs'
workspaces and homes, the overlay bases, Orchard's own git directories, the running records) or
the user's checkout; the folders made to hold what is bound are read-only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from activities.runners.sandbox import BWRAP, NAMESPACES, privilege_flags
from activities.runners.sandbox.system import hidden_roots, system_binds
from activities.runners.sandbox.system import within as _within

PRIVATE_FOLDERS = frozenset({
    ".ssh", ".gnupg", ".aws", ".azure", ".gcloud", ".config", ".docker", ".kube", ".local", ".cache", ".npm", ".m2", ".gradle",
    ".orchard", ".claude", ".codex", ".password-store", ".pki", ".mozilla", ".netrc", ".git-credentials", ".npmrc", ".pypirc",
})
"""A home's folders that hold credentials or others' data: a PATH entry in one is shown alone, never the folder."""
MASKED = {".cargo": ("credentials", "credentials.toml")}
"""Credentials inside a toolchain folder that is shown: covered by an empty file."""
SHOWN_PER_FOLDER = 64
"""Links followed out of one PATH entry shown alone (the real file of `~/.local/bin/claude`)."""
SEEN_FOR_SECONDS = 10.0
"""How long what is hidden on this host, and the toolchains on PATH, are taken as they were seen."""


@dataclass
class SandboxPlan:
    """The paths of one agent's sandbox (all absolute, as the worker sees them)."""

    workspace: Path
    agent_home: Path
    tmp: Path
    """The folder that is the agent's /tmp (its TMPDIR)."""
    writable: list[Path] = field(default_factory=list)
    """Read-write at their own paths besides the workspace and home (a pipeline's gateway)."""
    shown: list[Path] = field(default_factory=list)
    """Read-only at their own paths though in no system directory, or in a hidden folder (the object store, toolchains, named files)."""
    masked: list[Path] = field(default_factory=list)
    system: Sequence[str] = ()
    """bubblewrap's arguments that bind the host's system directories (system.py)."""
    network: bool = True
    """The host's network (online, host), or a namespace with loopback only."""
    hosts: Path | None = None
    """The /etc/hosts of a sandbox without a network."""


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def _homes(hidden: Sequence[Path], home: Path | None) -> list[Path]:
    """The home folders among the hidden ones: /root, the worker's, each of /home's."""
    homes = [p for p in (Path("/root"), *([_real(home)] if home else [])) if p.is_dir()]
    if Path("/home") in hidden:
        with contextlib.suppress(OSError):
            homes += [p for p in Path("/home").iterdir() if p.is_dir() and not p.is_symlink()]
    return homes


@dataclass
class Visibility:
    """What is hidden on this host, to say what of a hidden folder an agent must still see."""

    hidden: list[Path]
    homes: list[Path]
    orchard_home: Path
    bound: Sequence[Path] = ()
    """What the sandbox binds of the host's system directories: a path in one is seen as it is."""
    system: Sequence[str] = ()
    """bubblewrap's arguments that bind them."""

    @classmethod
    def here(cls, orchard_home: Path) -> Visibility:
        home = Path(os.environ["HOME"]) if os.environ.get("HOME") else None
        hidden = hidden_roots(orchard_home, home)
        binds = system_binds(tuple(hidden))
        return cls(hidden=hidden, homes=_homes(hidden, home), orchard_home=orchard_home, bound=binds.bound, system=binds.args)

    @classmethod
    def with_toolchains(cls, orchard_home: Path) -> tuple[Visibility, list[Path]]:
        """`here`, and the toolchains on the worker's PATH, as they were at most SEEN_FOR_SECONDS
        ago: looking costs a millisecond and more, and every instance of a run asks the same."""
        key = (orchard_home, os.environ.get("HOME", ""), os.environ.get("PATH", ""))
        seen = _seen.get(key)
        if seen is None or time.monotonic() - seen[0] > SEEN_FOR_SECONDS:
            visibility = cls.here(orchard_home)
            seen = _seen[key] = (time.monotonic(), visibility, toolchains(visibility, key[2]))
        return seen[1], list(seen[2])

    def is_hidden(self, path: Path) -> bool:
        """Not seen in a sandbox unless shown: in /tmp, in a hidden folder, or in no system directory bound."""
        return path.is_absolute() and (self._kept_away(path) or not any(_within(path, b) for b in self.bound))

    def _kept_away(self, path: Path) -> bool:
        """In /tmp or a hidden folder: where a folder named or on PATH is never shown whole."""
        return _within(path, Path("/tmp")) or any(_within(path, root) for root in self.hidden)

    def _hidden_part(self, path: Path) -> Path | None:
        """`path`, real, if it is hidden and may be shown: not Orchard's, not a hidden folder or home
        itself, and none inside it (`/`, or a folder holding $ORCHARD_HOME: never bound whole)."""
        if not path.is_absolute() or not path.exists():
            return None
        real = _real(path)
        if not self.is_hidden(real) or _within(real, self.orchard_home) or real in (*self.hidden, *self.homes, Path("/tmp")):
            return None
        if any(_within(root, real) for root in (*self.hidden, Path("/tmp"))):
            return None
        return real

    def shown_for(self, path: Path) -> list[Path]:
        """What to show read-only so that the tools in `path` (a PATH entry) run: nothing when it is
        not hidden or is Orchard's; in a home, the toolchain folder it is in (`~/.pyenv` for
        `~/.pyenv/shims`), or itself in a private folder (`~/.local/bin`) with the real files its
        links name; outside the homes and /tmp, a `bin` folder's installation (`/srv/venv` for
        `/srv/venv/bin`: its libraries, a virtualenv's settings) unless that is a top folder or a
        repository; elsewhere itself."""
        real = self._hidden_part(path)
        if real is None:
            return []
        home = next((h for h in self.homes if _within(real, h)), None)
        if home is not None:
            top = home / real.relative_to(home).parts[0]
            if top.name not in PRIVATE_FOLDERS and top.is_dir():
                return [top]
        install = real.parent
        if (real.name == "bin" and not self._kept_away(real) and len(install.parts) > 2 and not (install / ".git").exists()
                and self._hidden_part(install) == install):
            return [install]
        shown = [real]
        if real.is_dir():
            try:
                links = [entry for entry in real.iterdir() if entry.is_symlink()][:SHOWN_PER_FOLDER]
            except OSError:
                links = []
            shown += [target for link in links for target in self.shown_file(link) if not _within(target, real)]
        return shown

    def shown_file(self, path: Path) -> list[Path]:
        """What to show read-only so that the file `path` (a script, an executable) is there: in a
        `bin` folder, the installation it is part of (the folder above); else the file alone. A
        link is shown at its own path too."""
        real = self._hidden_part(path)
        if real is None or not real.is_file():
            return []
        install = real.parent.parent
        shown = [install if real.parent.name == "bin" and self._hidden_part(install) == install else real]
        if path != real and self._hidden_part(path.parent) is not None:
            shown.append(path)
        return shown


def toolchains(visibility: Visibility, path_variable: str) -> list[Path]:
    """What of the worker's PATH lies in a hidden folder and is shown, so its tools still run."""
    return _unique(p for entry in path_variable.split(os.pathsep) if entry for p in visibility.shown_for(Path(entry)))


def named_paths(visibility: Visibility, agent_command: str | None, argv0: str | None = None) -> list[Path]:
    """The files an `--agent-command` names by absolute path (its interpreter, its script), and the
    agent's executable, shown where they are hidden; a folder it names is not (it may be the user's
    checkout). A word that is no path is no concern here."""
    words: list[str] = [argv0] if argv0 else []
    if agent_command:
        words += command_words(agent_command)
    paths = [part for word in words for part in (word, word.partition("=")[2]) if part.startswith("/")]  # `X=/path` too
    return _unique(p for path in paths for p in visibility.shown_file(Path(path)))


def command_words(command: str) -> list[str]:
    """A shell command's words, with its operators apart (`/x/agent.py;;` in a case arm is the path
    and `;;`), comments dropped; a command shlex cannot read, split on spaces."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    try:
        return list(lexer)
    except ValueError:
        return command.split()


def masked_in(shown: Iterable[Path]) -> list[Path]:
    """The credential files inside shown toolchain folders, to be covered."""
    return [folder / name for folder in shown for name in MASKED.get(folder.name, ()) if (folder / name).is_file()]


T = TypeVar("T")
_seen: dict[tuple[Path, str, str], tuple[float, Visibility, list[Path]]] = {}


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


def _depth(path: Path) -> int:
    return len(path.parts)


def bwrap_argv(plan: SandboxPlan) -> list[str]:
    """bubblewrap's arguments up to the agent's argv (which follows them). The system's directories
    first, then the agent's own folders and what is shown in order of depth (bubblewrap makes the
    folders that hold them in the sandbox's root, a tmpfs), and last that root made read-only."""
    argv = [BWRAP, *plan.system, "--dev", "/dev", "--proc", "/proc", "--bind", str(plan.tmp), "/tmp"]
    own = [plan.workspace, plan.agent_home, *plan.writable]
    # What is shown under /tmp is mounted on folders made in the agent's own /tmp: each is made in
    # a read-only tmpfs of its own instead, so no path there looks like the host's and is writable.
    tmp = Path("/tmp")
    covers = _unique(tmp / p.relative_to(tmp).parts[0] for p in [*own, *plan.shown] if _within(p, tmp) and p != tmp)
    for cover in covers:
        argv += ["--tmpfs", str(cover)]
    read_only = [p for p in plan.shown if not any(_within(p, other) for other in [*own, *plan.shown] if other != p)]
    shows = [(p, "--bind") for p in own] + [(p, "--ro-bind") for p in read_only]
    for path, how in sorted(_unique(shows), key=lambda s: _depth(s[0])):
        argv += [how, str(path), str(path)]
    for masked in plan.masked:
        argv += ["--ro-bind", "/dev/null", str(masked)]
    if plan.hosts is not None:
        argv += ["--ro-bind", str(plan.hosts), "/etc/hosts"]
    for cover in covers:  # once the folders shown in them are mounted: a write there fails
        argv += ["--remount-ro", str(cover)]
    argv += ["--remount-ro", "/"]  # the folders bubblewrap made to hold the binds
    argv += [*NAMESPACES, *([] if plan.network else ["--unshare-net"])]
    argv += ["--die-with-parent", "--new-session", *privilege_flags(), "--chdir", str(plan.workspace)]
    return argv
