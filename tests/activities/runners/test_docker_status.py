"""What the Docker engine said is kept a few seconds per engine: a process whose DOCKER_HOST
changes is told the new engine's answer, not the old one's."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from activities.runners.docker import status


def answering_engine(path: Path) -> socket.socket:
    """A unix socket that answers every request with 200 OK, as an engine answers /_ping."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.no_engine
async def test_the_engines_answer_is_kept_per_engine_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(status, "_status", {})
    away = f"unix://{tmp_path}/away.sock"
    monkeypatch.setenv("DOCKER_HOST", away)
    assert f"the Docker engine at {away} is not reachable" in (await status.engine_problem() or "")
    server = answering_engine(tmp_path / "engine.sock")
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/engine.sock")
        assert await status.engine_problem() is None  # within the first answer's few seconds
        monkeypatch.setenv("DOCKER_HOST", away)
        assert await status.engine_problem() is not None
    finally:
        server.close()
