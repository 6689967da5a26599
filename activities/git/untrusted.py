"""Files under a folder an agent could write (its workspace's `.git`, a pipeline's gateway), read
and written without trusting what is there.

An agent may have replaced any file or folder of it by a link (to the user's repository, to
`/etc`), by a fifo, or by a folder where a file was. Everything here is opened beneath the folder
one name at a time with O_NOFOLLOW: a link anywhere on the way is refused, never followed. Writes
go to a new file renamed over the old name (a link there is replaced, not written through).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a fifo must not block the open
REF_LIMIT = 4096
PACKED_REFS_LIMIT = 64 * 1024 * 1024
SYMREF_DEPTH = 5
REF_NAME = re.compile(r"refs/(?:[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*/)*[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*")
OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class Untrusted(Exception):
    """What an agent left is out of place: the one line that says what, relative to the folder."""


@contextlib.contextmanager
def opened_dir(root: Path, *parts: str) -> Iterator[int]:
    """A descriptor of the folder `root/parts…`, every step of it a real folder (not a link)."""
    fd = _open(lambda: os.open(root, DIR_FLAGS), root.name or str(root))
    try:
        for i, part in enumerate(parts):
            step = _open(functools.partial(os.open, part, DIR_FLAGS, dir_fd=fd), "/".join((root.name, *parts[: i + 1])))
            os.close(fd)
            fd = step
        yield fd
    finally:
        os.close(fd)


def _open(opener: Callable[[], int], shown: str) -> int:
    try:
        return opener()
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise Untrusted(f"{shown} is a link or not a folder") from None
        raise


def read_beneath(dir_fd: int, name: str, limit: int, shown: str) -> bytes:
    """The contents of the regular file `name` in the folder `dir_fd`; at most `limit` bytes."""
    fd = _open(lambda: os.open(name, FILE_FLAGS, dir_fd=dir_fd), shown)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Untrusted(f"{shown} is not a regular file")
        if info.st_size > limit:
            raise Untrusted(f"{shown} is larger than {limit} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def kind_beneath(dir_fd: int, name: str) -> str | None:
    """'dir', 'file', 'link' or 'other' for `name` in `dir_fd` (not followed); None if absent."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "other"


def remove_beneath(dir_fd: int, name: str) -> None:
    """Remove `name` from `dir_fd` whatever it is (a folder with what is in it; a link, not its target)."""
    kind = kind_beneath(dir_fd, name)
    if kind == "dir":
        shutil.rmtree(name, dir_fd=dir_fd)
    elif kind is not None:
        os.unlink(name, dir_fd=dir_fd)


def folder_beneath(dir_fd: int, name: str) -> int:
    """A descriptor of the real folder `name` in `dir_fd`, made anew if something else was there."""
    if kind_beneath(dir_fd, name) != "dir":
        remove_beneath(dir_fd, name)
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def write_beneath(dir_fd: int, name: str, data: bytes) -> None:
    """`name` in `dir_fd` holds `data`: written to a new file and renamed over whatever was there."""
    if kind_beneath(dir_fd, name) == "dir":
        remove_beneath(dir_fd, name)
    temporary = f".{name}.orchard-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary, dir_fd=dir_fd)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def write_path(root: Path, relative: str, data: bytes, mend: bool = True) -> None:
    """`root/relative` holds `data`. `mend`: every folder on the way is made a real one (made where
    missing, replacing a link or a file); else a link or a file on the way is Untrusted."""
    *folders, name = relative.split("/")
    if not mend:
        with opened_dir(root, *folders) as fd:
            write_beneath(fd, name, data)
        return
    fd = _open(lambda: os.open(root, DIR_FLAGS), root.name)
    try:
        for folder in folders:
            step = folder_beneath(fd, folder)
            os.close(fd)
            fd = step
        write_beneath(fd, name, data)
    finally:
        os.close(fd)


def read_ref(git_dir: Path, name: str = "HEAD") -> str | None:
    """The object id `name` (HEAD or a ref under refs/) resolves to in the git directory `git_dir`,
    following symbolic refs within refs/ only; None when it names no object yet (an unborn branch)."""
    with opened_dir(git_dir) as fd:
        for _ in range(SYMREF_DEPTH):
            value = _loose_ref(fd, name)
            if value is None:
                return _packed_refs(fd).get(name)
            if value.startswith("ref: "):
                name = value.removeprefix("ref: ").strip()
                if not REF_NAME.fullmatch(name):
                    raise Untrusted(f"a symbolic ref points outside refs/: {name[:100]!r}")
                continue
            if not OID.fullmatch(value):
                raise Untrusted(f"the ref {name} holds no object id: {value[:100]!r}")
            return value
    raise Untrusted(f"symbolic refs nested deeper than {SYMREF_DEPTH}")


def _loose_ref(git_dir_fd: int, name: str) -> str | None:
    *folders, leaf = name.split("/")
    fd = os.dup(git_dir_fd)
    try:
        for folder in folders:
            kind = kind_beneath(fd, folder)
            if kind is None:
                return None
            step = _open(functools.partial(os.open, folder, DIR_FLAGS, dir_fd=fd), f"{name} (at {folder})")
            os.close(fd)
            fd = step
        if kind_beneath(fd, leaf) is None:
            return None
        return read_beneath(fd, leaf, REF_LIMIT, name).decode(errors="replace").strip()
    finally:
        os.close(fd)


def _packed_refs(git_dir_fd: int) -> dict[str, str]:
    if kind_beneath(git_dir_fd, "packed-refs") is None:
        return {}
    refs = {}
    for line in read_beneath(git_dir_fd, "packed-refs", PACKED_REFS_LIMIT, "packed-refs").decode(errors="replace").splitlines():
        oid, _, ref = line.partition(" ")
        if OID.fullmatch(oid) and REF_NAME.fullmatch(ref):
            refs[ref] = oid
    return refs


def branches(git_dir: Path) -> dict[str, str]:
    """Every branch of the git directory `git_dir` as `refs/heads/…` → object id (loose refs over packed ones)."""
    with opened_dir(git_dir) as fd:
        found = {ref: oid for ref, oid in _packed_refs(fd).items() if ref.startswith("refs/heads/")}
        if kind_beneath(fd, "refs") == "dir":
            with opened_dir(git_dir, "refs") as refs_fd:
                if kind_beneath(refs_fd, "heads") == "dir":
                    _loose_branches(git_dir, ("refs", "heads"), found)
    return found


def _loose_branches(git_dir: Path, parts: tuple[str, ...], found: dict[str, str]) -> None:
    with opened_dir(git_dir, *parts) as fd:
        for entry in os.scandir(fd):
            ref = "/".join((*parts, entry.name))
            if entry.is_dir(follow_symlinks=False):
                _loose_branches(git_dir, (*parts, entry.name), found)
            elif entry.name.endswith(".lock") or entry.name.startswith("."):
                continue
            elif not entry.is_file(follow_symlinks=False):
                raise Untrusted(f"{ref} is a link or not a file")
            else:
                value = read_beneath(fd, entry.name, REF_LIMIT, ref).decode(errors="replace").strip()
                if OID.fullmatch(value) and REF_NAME.fullmatch(ref):
                    found[ref] = value
