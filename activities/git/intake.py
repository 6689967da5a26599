"""Taking the objects an agent made into a git directory of Orchard's, each one verified.

An agent's object store is the agent's: a loose object's file name may not be the hash of what it
holds, a folder of it may be a link to the user's own store or anywhere else, an object may be
garbage or point at objects that do not exist. So objects are read, never moved, from it (no link
followed: activities/git/untrusted.py), and git itself writes them into Orchard's store: the loose
ones are handed to `git unpack-objects --strict` as a pack (git hashes each one, checks it as
`fsck` does and checks that everything it points at exists), and so are the agent's own packs.
They land in a quarantine first, as a push does, so a refused set leaves nothing behind; and a
loose object whose name is not the hash of its content is refused by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from activities.git.command import GIT_ENV
from activities.git.untrusted import FILE_FLAGS, Untrusted, kind_beneath, opened_dir, remove_beneath

TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
HEX = set("0123456789abcdef")
MAX_BYTES = 4 * 1024**3
"""The most an agent's new objects may hold, uncompressed, in one intake (a zlib bomb stops here)."""
CHUNK = 1 << 20


@dataclass
class _Loose:
    oid: str
    folder: str


def _missing(objects: Path, have: Sequence[Path], oid: str) -> bool:
    return not any((store / oid[:2] / oid[2:]).exists() for store in (objects, *have))


def _scan(git_dir: Path, objects: Path, have: Sequence[Path]) -> tuple[list[_Loose], list[_Loose], list[str]]:
    """The loose objects of `git_dir` that neither `objects` nor `have` hold, those they hold, and its packs."""
    loose: list[_Loose] = []
    held: list[_Loose] = []
    packs: list[str] = []
    with opened_dir(git_dir, "objects") as store:
        for entry in os.scandir(store):
            name = entry.name
            if len(name) == 2 and set(name) <= HEX:
                if not entry.is_dir(follow_symlinks=False):
                    raise Untrusted(f"objects/{name} is a link or not a folder")
                with opened_dir(git_dir, "objects", name) as folder:
                    for item in os.scandir(folder):
                        oid = name + item.name
                        if len(oid) not in (40, 64) or not set(item.name) <= HEX:
                            continue  # git's own temporary files
                        if not item.is_file(follow_symlinks=False):
                            raise Untrusted(f"objects/{name}/{item.name} is a link or not a file")
                        (loose if _missing(objects, have, oid) else held).append(_Loose(oid, name))
            elif name == "pack":
                if not entry.is_dir(follow_symlinks=False):
                    raise Untrusted("objects/pack is a link or not a folder")
                with opened_dir(git_dir, "objects", "pack") as folder:
                    for item in os.scandir(folder):
                        if item.name.endswith(".pack"):
                            if not item.is_file(follow_symlinks=False):
                                raise Untrusted(f"objects/pack/{item.name} is a link or not a file")
                            packs.append(item.name)
    return loose, held, sorted(packs)


def _pack_header_bytes(kind: int, size: int) -> bytes:
    byte, size = (kind << 4) | (size & 0x0F), size >> 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte, size = size & 0x7F, size >> 7
    out.append(byte)
    return bytes(out)


class _PackWriter:
    """A pack of whole objects, written to `out` as they come, with its trailing checksum."""

    def __init__(self, out: BinaryIO, count: int, algorithm: str) -> None:
        self.out, self.digest = out, hashlib.new(algorithm)
        self.write(b"PACK" + struct.pack(">II", 2, count))

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.out.write(data)

    def finish(self) -> None:
        self.out.write(self.digest.digest())


def _inflated(source: BinaryIO, shown: str) -> Iterator[bytes]:
    """The decompressed pieces of a loose object's file, a chunk at a time."""
    inflate = zlib.decompressobj()
    try:
        while chunk := source.read(CHUNK):
            while chunk:
                yield inflate.decompress(chunk, CHUNK)
                chunk = inflate.unconsumed_tail
        yield inflate.flush()
    except zlib.error:
        raise Untrusted(f"{shown} is not a git object (not zlib data)") from None
    if not inflate.eof or inflate.unused_data:
        raise Untrusted(f"{shown} is not a whole git object")


def _add_loose(pack: _PackWriter, git_dir: Path, item: _Loose, budget: list[int]) -> str:
    """Verify one loose object (its name is the hash of what it holds, its type and size are git's)
    and add it to `pack`, never holding more than a chunk of it in memory; its type."""
    shown = f"objects/{item.folder}/{item.oid[2:]}"
    with opened_dir(git_dir, "objects", item.folder) as folder:
        if kind_beneath(folder, item.oid[2:]) != "file":
            raise Untrusted(f"{shown} is a link or not a file")
        fd = os.open(item.oid[2:], FILE_FLAGS, dir_fd=folder)
    digest = hashlib.new("sha1" if len(item.oid) == 40 else "sha256")
    header, seen, declared, compress = b"", 0, 0, None
    with os.fdopen(fd, "rb") as source:
        for data in _inflated(source, shown):
            if compress is None:
                header += data
                if b"\0" not in header:
                    if len(header) > 64:
                        raise Untrusted(f"{shown} is not a git object")
                    continue
                header, _, data = header.partition(b"\0")
                kind, _, size = header.partition(b" ")
                if kind not in TYPES or not size.isdigit():
                    raise Untrusted(f"{shown} is not a git object (its header says {header[:40]!r})")
                declared = int(size)
                budget[0] -= declared
                if budget[0] < 0:
                    raise Untrusted(f"the agent's new objects hold more than {MAX_BYTES} bytes")
                digest.update(header + b"\0")
                pack.write(_pack_header_bytes(TYPES[kind], declared))
                compress = zlib.compressobj(1)
            seen += len(data)
            if seen > declared:
                break
            digest.update(data)
            pack.write(compress.compress(data))
    if compress is None or seen != declared:
        raise Untrusted(f"{shown} is not a whole git object (its size is not the one its header says)")
    if digest.hexdigest() != item.oid:
        raise Untrusted(f"{shown} holds an object whose hash is {digest.hexdigest()[:12]}, not its name: a forged object")
    pack.write(compress.flush())
    return kind.decode()


def _unpack(pack: Path, git_dir: Path, quarantine: Path, have: Sequence[Path]) -> None:
    import subprocess  # in a thread: the event loop's subprocesses are not for this

    env = {**os.environ, **GIT_ENV, "GIT_DIR": str(git_dir), "GIT_OBJECT_DIRECTORY": str(quarantine),
           "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(str(p) for p in (git_dir / "objects", *have))}
    with pack.open("rb") as stdin:
        done = subprocess.run(["git", "unpack-objects", "-q", "--strict"], stdin=stdin, capture_output=True, env=env)
    if done.returncode != 0:
        said = [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
        raise Untrusted(f"git refused the agent's objects: {(said[-1] if said else f'exit {done.returncode}').removeprefix('fatal: ')[:300]}")


def _forget(source: Path, loose: list[_Loose], packs: list[str]) -> None:
    """Remove from the agent's store what Orchard's holds now (it still sees them through its
    alternates), so the next intake of a long loop looks at the new objects only."""
    for item in loose:
        with opened_dir(source, "objects", item.folder) as folder, contextlib.suppress(FileNotFoundError):
            os.unlink(item.oid[2:], dir_fd=folder)
    if packs:
        with opened_dir(source, "objects", "pack") as folder:
            for name in os.listdir(folder):
                if name.startswith(tuple(pack.removesuffix(".pack") + "." for pack in packs)):
                    remove_beneath(folder, name)


def _take(source: Path, git_dir: Path, have: Sequence[Path]) -> dict[str, str]:
    objects = git_dir / "objects"
    loose, held, packs = _scan(source, objects, have)
    if not loose and not packs:
        _forget(source, held, [])
        return {}
    quarantine = Path(tempfile.mkdtemp(prefix="incoming-", dir=objects))
    try:
        scratch = quarantine / "pack.in"
        for name in packs:  # the agent's packs first: its loose objects are the newer ones
            with opened_dir(source, "objects", "pack") as folder:
                fd = os.open(name, FILE_FLAGS, dir_fd=folder)
            with os.fdopen(fd, "rb") as inp, scratch.open("wb") as out:
                shutil.copyfileobj(inp, out, CHUNK)
            _unpack(scratch, git_dir, quarantine, have)
        kinds: dict[str, str] = {}
        if loose:
            budget = [MAX_BYTES]
            with scratch.open("wb") as out:
                pack = _PackWriter(out, len(loose), "sha1" if len(loose[0].oid) == 40 else "sha256")
                for item in loose:
                    kinds[item.oid] = _add_loose(pack, source, item, budget)
                pack.finish()
            _unpack(scratch, git_dir, quarantine, have)
        scratch.unlink()
        for landed in quarantine.iterdir():
            (objects / landed.name).mkdir(exist_ok=True)
            for file in landed.iterdir():
                os.replace(file, objects / landed.name / file.name)
        _forget(source, [*loose, *held], packs)
        return kinds
    finally:
        shutil.rmtree(quarantine, ignore_errors=True)


async def check_store(source: Path) -> None:
    """Untrusted when the object store of the git directory `source` holds a link where git keeps folders or objects."""
    await asyncio.to_thread(_scan, source, Path("/nonexistent"), ())


async def take_objects(source: Path, git_dir: Path, have: Sequence[Path] = ()) -> dict[str, str]:
    """Copy the objects of the git directory `source` (an agent's) that `git_dir` (Orchard's) and
    the stores `have` lack into `git_dir`, each verified by git; the type of each loose one taken. Untrusted (and nothing
    taken) when anything of it is out of place."""
    return await asyncio.to_thread(_take, source, git_dir, have)
