"""An instance's runner: named runners without waiting on the engine, Docker's image asked once
(the container's own check shares the answer, a problem included)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from activities.runners import choice
from activities.runners.choice import instance_runner
from activities.runners.docker import ImageMissing, status
from activities.runners.docker.status import ensure_image
from workflows.sdk.models import TaskSpec


def task(**kw) -> TaskSpec:
    return TaskSpec(prompt="p", base_branch="main", plugin="command", **kw)


def slow_engine(monkeypatch, answer: Exception | None = None) -> list[str]:
    asked: list[str] = []

    async def ask(image: str) -> None:
        asked.append(image)
        await asyncio.sleep(0.05)  # the engine, slow after idle
        if answer is not None:
            raise answer

    monkeypatch.setattr(status, "_ensure_image", ask)
    return asked


async def test_docker_is_the_runner_at_once_and_the_container_s_check_shares_the_answer_asked_meanwhile(monkeypatch):
    asked = slow_engine(monkeypatch)
    assert await asyncio.wait_for(instance_runner(task(runner="docker", docker_image="agent:1")), 0.01) == "docker"  # not waiting on the engine
    await ensure_image("agent:1")  # the container's check, while the workspace was prepared
    assert asked == ["agent:1"]
    await ensure_image("agent:1")  # a later check asks again (the engine's answers are cached apart: status.STATUS_TTL_SECONDS)
    assert asked == ["agent:1", "agent:1"]


async def test_a_missing_image_is_still_the_container_s_error_and_no_stray_one(monkeypatch, caplog):
    slow_engine(monkeypatch, ImageMissing("the agent image agent:1 is not on this Docker host"))
    assert await instance_runner(task(runner="docker", docker_image="agent:1")) == "docker"
    with pytest.raises(ImageMissing):
        await ensure_image("agent:1")
    slow_engine(monkeypatch, ImageMissing("gone"))
    await instance_runner(task(runner="docker", docker_image="agent:2"))
    await asyncio.sleep(0.1)  # asked, failed, and no one waited for it
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_local_and_sandbox_are_what_they_name_and_auto_is_chosen(monkeypatch):
    asked = slow_engine(monkeypatch)
    monkeypatch.setattr(choice, "sandbox_problem", lambda egress="online": None)
    assert [await instance_runner(task(runner=name)) for name in ("local", "sandbox", "auto")] == ["local", "sandbox", "sandbox"]
    assert asked == []
