"""`orchard run`'s arguments read once into a RunRequest (client/commands/run.py's request_from,
client/request.py): every flag lands in one typed field, and what the arguments alone show to be
wrong is one error before anything is read or asked."""

from __future__ import annotations

import pytest

from client.cli import build_parser
from client.commands.run import request_from
from client.errors import UsageError
from client.request import AgentFlags, GivenCredentials, PromptSource, RunRequest, ServerFlags


def request(*argv: str) -> RunRequest:
    return request_from(build_parser().parse_args(["run", *argv]))


def test_nothing_given_is_the_defaults():
    assert request("fix it") == RunRequest(prompt=PromptSource("argument", text="fix it"))


def test_every_flag_lands_in_its_field():
    got = request(
        "-", "--strategy", "best-of-n", "-S", "n=3", "-S", " n =4", "-S", "scorer={\"a\": 1}", "--plugin", "codex", "--model", "m",
        "--agent-command", "agent", "--timeout", "30", "--max-turns", "7", "--import-policy", "never", "--import-conflict-policy", "suffix",
        "--runner", "docker", "--docker-image", "img:1", "--network-egress", "proxy", "--system-prompt", "sys", "--append-system-prompt", "more",
        "--cli-arg=--verbose", "--cli-args", "-a 'b c'", "--env", "A=1", "--env", "B", "--repo", "/r", "--remote", "origin", "--base-branch", "dev",
        "--max-parallel", "3", "--randomize-queue", "--branch-namespace", "flat", "--api-key", "k", "--oauth-token", "t", "--base-url", "u",
        "--address", "h:1", "--namespace", "ns", "--task-queue", "q", "--ui-url", "http://ui", "--config", "o.yaml", "--with-worker",
        "--output", "json", "--runs", "2", "--keep-waiting",
    )
    assert got == RunRequest(
        prompt=PromptSource("stdin"), strategy="best-of-n", params=(("n", "3"), ("n", "4"), ("scorer", '{"a": 1}')),
        agent=AgentFlags(model="m", plugin="codex", agent_command="agent", timeout=30.0, max_turns=7, import_policy="never", import_conflict_policy="suffix",
                         runner="docker", docker_image="img:1", network_egress="proxy", system_prompt="sys", append_system_prompt="more",
                         cli_args=("--verbose", "-a", "b c"), env=("A=1", "B")),
        repo="/r", remote="origin", base_branch="dev", max_parallel=3, randomize_queue=True, branch_namespace="flat",
        credentials=GivenCredentials("k", "t", "u"), server=ServerFlags("h:1", "ns", "q", "http://ui", "o.yaml", with_worker=True),
        output="json", detach=False, runs=2, keep_waiting=True,
    )
    assert got.agent.given() == {"model": "m", "plugin": "codex", "agent_command": "agent", "timeout": 30.0, "max_turns": 7, "import_policy": "never",
                                 "import_conflict_policy": "suffix", "runner": "docker", "docker_image": "img:1", "network_egress": "proxy",
                                 "system_prompt": "sys", "append_system_prompt": "more", "cli_args": ["--verbose", "-a", "b c"]}
    assert got.orchestration() == {"max_parallel": 3, "randomize_queue": True, "branch_namespace": "flat"}
    assert request("x").agent.given() == {} and request("x").orchestration() == {}  # orchard.yaml and the defaults decide


def test_a_prompt_file_is_a_source_read_later():
    assert request("--prompt-file", "task.md").prompt == PromptSource("file", path="task.md")


def test_credentials_never_show_in_the_request():
    shown = repr(request("x", "--api-key", "sk-canary-1", "--oauth-token", "tok-canary-2", "--base-url", "http://canary-3"))
    assert "canary" not in shown


@pytest.mark.parametrize("argv, message", [
    ([], "a prompt is needed: `orchard run \"TASK\"`, `orchard run - < task.md` or `--prompt-file task.md`"),
    (["x", "--prompt-file", "task.md"], "give the prompt once: as the argument, or with --prompt-file, not both"),
    (["x", "-S", "n"], "malformed -S value 'n'; use -S key=value"),
    (["x", "-S", " =3"], "malformed -S value ' =3'; use -S key=value"),
    (["x", "--cli-args", "'unclosed"], "--cli-args: No closing quotation; quote values that contain spaces"),
    (["x", "--runs", "0"], "--runs 0: give a number of runs, 1 or more"),
    (["x", "--detach", "--with-worker"], "--detach needs a worker that outlives this command; drop --with-worker and start `python worker.py`"),
])
def test_what_the_arguments_alone_show_is_wrong_is_one_error(argv, message):
    with pytest.raises(UsageError) as err:
        request(*argv)
    assert str(err.value) == message
