"""An agent's transcript file, capped so an agent that prints without end cannot fill the disk.

The first TRANSCRIPT_HEAD_BYTES and the last TRANSCRIPT_TAIL_BYTES of an attempt's output are kept
(the start says what the agent set out to do, the end how it finished); between them the file
says how much was cut. The head is written as it comes; the tail is held in memory and written
when the attempt ends (an attempt whose worker is killed keeps its head only).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from types import TracebackType

TRANSCRIPT_HEAD_BYTES = 4 * 1024 * 1024
TRANSCRIPT_TAIL_BYTES = 4 * 1024 * 1024


class Transcript:
    def __init__(self, path: Path, head_bytes: int = TRANSCRIPT_HEAD_BYTES, tail_bytes: int = TRANSCRIPT_TAIL_BYTES):
        self.path, self.head_bytes, self.tail_bytes = path, head_bytes, tail_bytes
        self.written = 0
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.cut_bytes = self.cut_lines = 0

    def __enter__(self) -> Transcript:
        self.out = self.path.open("ab")
        return self

    def write(self, line: str) -> None:
        data = (line + "\n").encode(errors="replace")
        if self.written + len(data) <= self.head_bytes and not self.tail:
            self.out.write(data)
            self.out.flush()
            self.written += len(data)
            return
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail_size > self.tail_bytes and len(self.tail) > 1:
            dropped = self.tail.popleft()
            self.tail_size -= len(dropped)
            self.cut_bytes += len(dropped)
            self.cut_lines += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.cut_bytes:
            self.out.write(
                f"[orchard: {self.cut_lines:,} lines ({self.cut_bytes:,} bytes) cut here: a transcript keeps the first "
                f"{self.head_bytes:,} and the last {self.tail_bytes:,} bytes of an attempt's output]\n".encode()
            )
        self.out.writelines(self.tail)
        self.out.close()
