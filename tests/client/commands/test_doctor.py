"""`orchard doctor`: what Orchard needs on this host, one line a check; exit 1 when a check fails.
Credentials are named, never shown."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard
from tests.conftest import write_dev_config

CANARY = "sk-ant-doctor-canary-1234"


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose PATH has git (and umount, which the overlay probe runs) and a `claude` that says
    its version, and no codex; one credential set."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "umount"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "claude").write_text("#!/bin/sh\necho '9.9.9 (Claude Code)'\n")
    (bin_dir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)


def checks(out: str) -> dict[str, tuple[str, str]]:
    """The table's lines by check: (level, detail)."""
    rows = {}
    for line in out.splitlines():
        level, name, detail = line[:4].strip(), line[6:].split("  ")[0].strip(), line[6:].split("  ", 1)[1].strip()
        rows[name] = (level, detail)
    return rows


async def test_doctor_checks_the_server_the_agent_clis_credentials_and_disk(orchard: Orchard, host: None, named_server: str, tmp_path: Path):
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none")
    assert said.code == 0, said.out + said.err
    found = checks(said.out)
    assert found["temporal"] == ("ok", f"reachable at {named_server} (namespace default)")
    assert found["claude"] == ("ok", f"9.9.9 (Claude Code) ({tmp_path / 'bin' / 'claude'})")
    assert found["codex"] == ("warn", "not installed on this host; `npm install -g @openai/codex` (needed for --runner local)")
    assert found["git"][0] == "ok" and found["git"][1].startswith("git version ")
    not_set = "CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_BASE_URL, OPENAI_API_KEY, CODEX_API_KEY, OPENAI_BASE_URL"
    assert found["credentials"] == ("ok", f"set: ANTHROPIC_API_KEY; not set: {not_set} (values are never shown)")
    assert CANARY not in said.out + said.err
    assert found["disk"][0] in ("ok", "warn") and " GiB free at " in found["disk"][1]
    assert found["workspaces"][0] in ("ok", "warn")
    if found["docker"][0] == "ok":  # with a Docker engine here, the image is looked for
        assert found["image"] == ("warn", "orchard-test-absent:none is missing; build it with `docker build -t orchard-agent docker/` (or "
                                          "docker/build-offline-image.sh without a registry)")
    else:
        assert found["docker"][1].endswith("; agents can only run locally (not isolated)")

    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none", "--output", "json")
    rows = json.loads(said.out)
    assert said.code == 0 and [r["name"] for r in rows][:2] == ["temporal", "docker"] and {r["level"] for r in rows} <= {"ok", "warn"}
    assert {r["name"]: (r["level"], r["detail"]) for r in rows}["codex"] == found["codex"]


async def test_a_server_that_does_not_answer_fails_the_doctor(orchard: Orchard, host: None):
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none", "--address", "127.0.0.1:1", address=False)
    assert said.code == 1
    level, detail = checks(said.out)["temporal"]
    assert level == "fail" and detail.startswith("cannot reach Temporal at 127.0.0.1:1")


async def test_an_embedded_server_that_is_down_is_fine_the_next_run_starts_it(orchard: Orchard, host: None, orchard_home: Path):
    write_dev_config(orchard_home)  # the embedded server's ports: free ones, where nothing answers
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none", address=False)
    assert said.code == 0, said.out
    level, detail = checks(said.out)["temporal"]
    assert level == "ok" and detail.startswith("embedded server not running; `orchard run` starts it (") and detail.endswith("temporal)")


def _base(home: Path, name: str, idle: float | None, size: int) -> Path:
    """A base checkout as the overlay workspaces leave it: ready, its tree, and its users (none for `idle` seconds, or one)."""
    base = home / "bases" / name
    (base / "tree").mkdir(parents=True)
    (base / "tree" / "big.bin").write_bytes(b"x" * size)
    (base / "ready").touch()
    (base / "users").mkdir()
    if idle is None:
        (base / "users" / "ws").write_text("/somewhere/ws")
    else:
        os.utime(base / "users", (time.time() - idle, time.time() - idle))
    return base


async def test_doctor_says_the_base_grace_and_the_bases_kept_now_with_their_size(orchard: Orchard, host: None, orchard_home: Path,
                                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ORCHARD_BASE_GRACE", raising=False)  # the tests' 0
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none")
    assert checks(said.out)["base grace"] == ("ok", "a base checkout outlives its last workspace 60 s (the default; ORCHARD_BASE_GRACE sets it); "
                                                    f"none kept now ({orchard_home / 'bases'})")
    kept = _base(orchard_home, "0badcafe-1111-0", idle=30, size=3 * 1024**2)
    _base(orchard_home, "0badcafe-2222-0", idle=None, size=1024**2)  # a workspace uses it: not kept, used
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "300")
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none")
    level, detail = checks(said.out)["base grace"]
    assert level == "ok" and detail.startswith("a base checkout outlives its last workspace 300 s (ORCHARD_BASE_GRACE); 1 kept now, 3.0 MiB: "
                                               f"{kept.name} (3.0 MiB, idle 3")
    assert detail.endswith(f" s) ({orchard_home / 'bases'})")
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "soon")
    said = await orchard("doctor", "--docker-image", "orchard-test-absent:none")
    assert said.code == 0
    level, detail = checks(said.out)["base grace"]
    assert level == "warn" and detail.startswith("ORCHARD_BASE_GRACE='soon' is no number of seconds: bases are kept 60 s; 1 kept now")
