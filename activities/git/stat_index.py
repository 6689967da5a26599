"""A fresh checkout's index made stat-clean and not racily clean without reading a file.

git trusts an index entry when the file's stat data (mtime, size, inode, owner; ctime where
trusted) is what the entry recorded, unless the entry is "racily clean": its mtime is not older
than the index file itself (this git compares whole seconds), when any command reads the file
again to be sure. A checkout records each file's stat data as it writes it, so only the files
written in the index's own second are racy. Those are dated a second back (an agent's write, later,
gets a later mtime and is seen) and their entries given what lstat then says; the files themselves
are never read: what the checkout wrote is what the entry names. `git update-index --refresh` did
the same by hashing every file whose mtime changed: 0.74 s on 20,000 files.

Only index versions 2 and 3 of a SHA-1 repository are edited (what `git checkout` writes unless
told otherwise); anything else is left to the caller's refresh.

`split`: the index is written split, as `git update-index --split-index` writes it (a base's is:
its entries in a shared index its workspaces read), in the same pass: the entries go to
`sharedindex.<its hash>` and the index itself holds none, only the link to it and the cache tree.
That is one git process fewer, which read and wrote the whole index again.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from pathlib import Path

HEADER = struct.Struct(">4sII")
STAT = struct.Struct(">10I")
"""ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size: each truncated to 32 bits, as git does."""
FLAGS = struct.Struct(">H")
WORD = struct.Struct(">I")
ENTRY_FIXED = STAT.size + 20 + FLAGS.size
HASH_BYTES = 20
EXTENDED, NAME_MASK, STAGE_MASK = 0x4000, 0x0FFF, 0x3000
SKIP_WORKTREE = 0x4000
GITLINK = 0o160000
U32 = 0xFFFFFFFF


def restat_index(tree: Path, restat_all: bool = False, split: bool = False, fix_racy: bool = True, trust_ctime: bool = True) -> bool:
    """Make `tree`'s index (just written by a checkout, not split) stat-clean and not racily clean
    without reading a file: every file whose entry is not older than the current second is dated a
    second back and its entry given its new stat data; with `restat_all` (the files changed owner
    after the checkout) every entry is; `fix_racy=False`: no racy entry is (a small tree, whose re-reads
    cost less than this). `trust_ctime=False`: the index is for gits that do not compare ctimes
    (core.trustctime=false, as a base's workspaces'), so a file dated back is not asked for its new
    stat data: its entry is given the mtime it was dated to (a syscall per file, not two), the rest
    as the checkout recorded it. `split`: written split (see above), unless it holds an extension git
    requires to be understood (then whole: the caller splits it). Whether it could (False: an index
    this does not edit, or a file not as its entry says: the index is untouched then, and the
    caller's refresh sees to the files dated back so far)."""
    index = tree / ".git" / "index"
    data = bytearray(index.read_bytes())
    if len(data) < HEADER.size + HASH_BYTES:
        return False
    signature, version, count = HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3) or hashlib.sha1(data[:-HASH_BYTES]).digest() != data[-HASH_BYTES:]:
        return False
    now = int(time.time())  # the index is written after this: its second is at least this one
    back = (now - 1) * 1_000_000_000
    folders = _Folders(os.fsencode(tree))
    racy_left = False  # an entry still racily clean: git's split keeps those out of the shared index, so git splits then
    offset = HEADER.size
    try:
        for _ in range(count):
            if offset + ENTRY_FIXED > len(data) - HASH_BYTES:
                return False
            (mtime,) = WORD.unpack_from(data, offset + 8)
            (flags,) = FLAGS.unpack_from(data, offset + STAT.size + 20)
            start = offset + ENTRY_FIXED
            extended = 0
            if flags & EXTENDED:
                if version < 3:
                    return False
                (extended,) = FLAGS.unpack_from(data, start)
                start += FLAGS.size
            end = data.index(b"\0", start) if flags & NAME_MASK == NAME_MASK else start + (flags & NAME_MASK)
            racy = fix_racy and mtime >= now
            if (racy or restat_all) and not flags & STAGE_MASK and not extended & SKIP_WORKTREE and (recorded := STAT.unpack_from(data, offset))[6] != GITLINK:
                folder, _, name = bytes(data[start:end]).rpartition(b"/")
                try:
                    where = folders.fd(folder)
                    if racy:
                        os.utime(name, ns=(back, back), dir_fd=where, follow_symlinks=False)
                    st = os.stat(name, dir_fd=where, follow_symlinks=False) if trust_ctime or restat_all else None
                except OSError:
                    return False
                if st is None:  # dated back: only its mtime changed that git compares
                    WORD.pack_into(data, offset + 8, now - 1)
                    WORD.pack_into(data, offset + 12, 0)
                elif st.st_size & U32 != recorded[9] or st.st_ino & U32 != recorded[5]:
                    return False  # not the file the checkout wrote
                else:
                    STAT.pack_into(data, offset, st.st_ctime_ns // 10**9 & U32, st.st_ctime_ns % 10**9, st.st_mtime_ns // 10**9 & U32,
                                   st.st_mtime_ns % 10**9, st.st_dev & U32, st.st_ino & U32, recorded[6], st.st_uid & U32, st.st_gid & U32, recorded[9])
            racy_left = racy_left or WORD.unpack_from(data, offset + 8)[0] >= now  # its mtime now
            offset = (end - offset + 8) // 8 * 8 + offset  # the name's NUL padding: 1 to 8 bytes
    finally:
        folders.close()
    written = _split(index, data, version, count, offset) if split and not racy_left else None
    if written is None:
        data[-HASH_BYTES:] = hashlib.sha1(data[:-HASH_BYTES]).digest()
        written = bytes(data)
    lock = index.with_name("index.lock")
    lock.write_bytes(written)
    os.replace(lock, index)
    return True


LINK = b"link"
EMPTY_EWAH = struct.pack(">IIQI", 0, 1, 0, 0)
"""An empty bitmap as git serializes it (no bits; one run-length word, at 0): the link's deleted and replaced entries."""
KEPT_EXTENSIONS = (b"TREE",)
"""The cache tree, which spares a commit building every tree again. The other optional extensions
are caches too, or offsets into the whole index (EOIE, IEOT), which the split one would belie."""


def _split(index: Path, data: bytearray, version: int, count: int, entries_end: int) -> bytes | None:
    """Write the shared index of `data`'s entries beside `index`; the split index to write in its
    place (None, nothing written: an extension git requires to be understood, as a sparse index's)."""
    kept = b""
    at = entries_end
    while at < len(data) - HASH_BYTES:
        signature = bytes(data[at:at + 4])
        (size,) = WORD.unpack_from(data, at + 4)
        if not b"A" <= signature[:1] <= b"Z":
            return None
        if signature in KEPT_EXTENSIONS:
            kept += data[at:at + 8 + size]
        at += 8 + size
    shared = HEADER.pack(b"DIRC", version, count) + data[HEADER.size:entries_end]
    shared_hash = hashlib.sha1(shared).digest()
    name = index.with_name(f"sharedindex.{shared_hash.hex()}")
    temp = index.with_name(f".{name.name}.tmp")
    temp.write_bytes(shared + shared_hash)
    os.replace(temp, name)
    link = shared_hash + EMPTY_EWAH + EMPTY_EWAH
    main = HEADER.pack(b"DIRC", version, 0) + LINK + WORD.pack(len(link)) + link + kept
    return main + hashlib.sha1(main).digest()


class _Folders:
    """The folder of the entries at hand, open (index entries come folder by folder): each file is
    named within it rather than by a path resolved from the root again, twice."""

    def __init__(self, root: bytes):
        self.root, self.name, self.opened = root, b"", -1

    def fd(self, folder: bytes) -> int:
        if self.opened < 0 or folder != self.name:
            self.close()
            self.opened = os.open(os.path.join(self.root, folder) if folder else self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            self.name = folder
        return self.opened

    def close(self) -> None:
        if self.opened >= 0:
            os.close(self.opened)
            self.opened = -1
