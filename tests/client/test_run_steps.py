"""The steps of `orchard run` (client/run_steps.py), each on its own, as nox tests its tasks: a
request as the command line gives it, what earlier steps produced built by hand, and this host
faked where a step asks it something (client/preflight.py). The steps that need a server run
against the session's dev server and its scripted worker."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from client import preflight
from client import run_steps as step
from client.cli import build_parser
from client.commands.run import request_from
from client.errors import UsageError
from client.preflight import RemoteHeads, RemoteUnreachable, RunnerCheck
from client.repository import RunRepository
from client.request import RunRequest
from client.runs import NoWorker, Target
from orchard_common.config import OrchardConfig
from orchard_common.connection import has_poller
from tests.conftest import SCRIPTED_REPO, git
from tests.scripted import SCRIPTS, Script, until
from workflows.sdk.budget import Budget
from workflows.sdk.errors import ConfigError
from workflows.sdk.models import RunInput, TaskDefaults
from workflows.strategies import BUILTIN_STRATEGIES


def request(*argv: str) -> RunRequest:
    return request_from(build_parser().parse_args(["run", *argv]))


@pytest.fixture
def no_named_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def here(repo: Path) -> RunRepository:
    return RunRepository(str(repo), repo)


def configured(repo: Path, *argv: str) -> step.Configuration:
    return step.configuration(request("x", *argv), here(repo))


# prompt


def test_the_prompt_is_read_from_where_the_request_says(tmp_path, monkeypatch):
    assert step.prompt(request("fix it")) == "fix it"
    (tmp_path / "task.md").write_text("from a file\n")
    assert step.prompt(request("--prompt-file", str(tmp_path / "task.md"))) == "from a file\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert step.prompt(request("-")) == "from stdin\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    with pytest.raises(UsageError, match="^the prompt from stdin is empty$"):
        step.prompt(request("-"))


# repository


def test_the_repository_is_here_a_url_or_a_remote_of_the_one_here(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo / ".")
    assert step.repository(request("x")) == RunRepository(str(repo.resolve()), repo.resolve())
    assert step.repository(request("x", "--repo", "https://example.invalid/p.git")) == RunRepository("https://example.invalid/p.git", None)
    git(repo, "remote", "add", "origin", "../upstream.git")
    assert step.repository(request("x", "--remote", "origin")) == RunRepository((tmp_path / "upstream.git").as_uri(), repo.resolve(), "origin")
    with pytest.raises(UsageError, match="has no remote 'upstream'; its remotes: origin"):
        step.repository(request("x", "--remote", "upstream"))


# configuration


def test_the_agents_get_the_flags_over_orchard_yaml_over_the_defaults(repo, no_named_server):
    (repo / "orchard.yaml").write_text("model: from-yaml\nrunner: {timeout: 50, network_egress: offline}\nagent_env: [A=yaml, B=yaml]\n")
    got = configured(repo, "--model", "from-flag", "--env", "B=flag", "--network-egress", "proxy")
    assert (got.defaults.model, got.defaults.timeout, got.defaults.network_egress, got.defaults.plugin) == ("from-flag", 50.0, "proxy", "command")
    assert got.defaults.agent_env == {"A": "yaml", "B": "flag"}
    assert configured(repo).defaults.model == "from-yaml"


def test_a_bad_setting_is_one_error_naming_its_flag(repo, no_named_server):
    with pytest.raises(UsageError, match="^--timeout: Input should be greater than 0$"):
        configured(repo, "--timeout", "-5")
    (repo / "orchard.yaml").write_text("plugin: nope\n")
    with pytest.raises(UsageError, match="^unknown plugin 'nope'; available: claude-code, codex, command$"):
        configured(repo)


def test_who_serves_the_run_is_decided_once(repo, no_named_server, monkeypatch):
    assert configured(repo).serving == "embedded"
    assert configured(repo, "--with-worker").serving == "embedded"  # no named server: the embedded one, whose worker is here anyway
    assert configured(repo, "--address", "h:1").serving == "named"
    assert configured(repo, "--address", "h:1", "--with-worker").serving == "in-process"
    (repo / "orchard.yaml").write_text("temporal: {address: 'yaml:1', namespace: ns, task_queue: q}\n")
    got = configured(repo)
    assert (got.serving, got.address, got.namespace, got.task_queue, got.worker_here) == ("named", "yaml:1", "ns", "q", False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env:1")
    (repo / "orchard.yaml").unlink()
    assert configured(repo).serving == "named"


def test_credentials_go_to_a_worker_this_host_runs_only(repo, no_named_server):
    assert configured(repo, "--api-key", "k", "--base-url", "u").credentials == {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "u"}
    assert configured(repo, "--plugin", "codex", "--api-key", "k", "--address", "h:1", "--with-worker").credentials == {"OPENAI_API_KEY": "k"}
    assert "k-canary" not in repr(configured(repo, "--api-key", "k-canary"))
    with pytest.raises(UsageError, match="^--api-key, --oauth-token and --base-url configure the embedded worker"):
        configured(repo, "--api-key", "k", "--address", "h:1")
    with pytest.raises(UsageError, match="^--oauth-token is for --plugin claude-code$"):
        configured(repo, "--oauth-token", "t")


# strategy


def test_the_strategy_s_parameters_are_the_flags_over_orchard_yaml(repo, no_named_server):
    (repo / "orchard.yaml").write_text("strategies: {best-of-n: {n: 2}}\n")
    configuration = configured(repo, "--agent-command", "a")
    chosen = step.strategy(request("x", "--strategy", "best-of-n"), here(repo), configuration)
    assert (chosen.spec, chosen.cls, chosen.name, chosen.params["n"], chosen.modules) == ("best-of-n", BUILTIN_STRATEGIES["best-of-n"], "best-of-n", 2, [])
    assert step.strategy(request("x", "--strategy", "best-of-n", "-S", "n=4"), here(repo), configuration).params["n"] == 4
    with pytest.raises(ConfigError, match="unknown parameter 'm' for strategy 'best-of-n'"):  # exit 2 too
        step.strategy(request("x", "--strategy", "best-of-n", "-S", "m=1"), here(repo), configuration)


IN_PLACE = """from workflows import Strategy
from workflows.sdk.launch import Launch


class InPlace(Launch):
    local_repository_only = True


class Here(Strategy):
    NAME = "in-place"
    LAUNCH = InPlace()

    async def execute(self, prompt, base_branch, ctx):
        return []
"""


async def test_a_strategy_that_needs_what_the_run_lacks_is_one_error(repo, no_named_server):
    with pytest.raises(UsageError, match="^the command plugin needs --agent-command"):
        step.strategy(request("x"), here(repo), configured(repo))
    on_a_remote = RunRepository("https://example.invalid/p.git", None)
    (repo / "in_place.py").write_text(IN_PLACE)  # no built-in says so since crons run on remotes: a strategy of the user's may
    with pytest.raises(UsageError, match="^the in-place strategy works on a repository the workers share by path, not on a remote"):
        step.strategy(request("x", "--strategy", str(repo / "in_place.py")), on_a_remote, configured(repo, "--agent-command", "a"))
    assert step.strategy(request("x", "--strategy", "loop"), on_a_remote, configured(repo, "--agent-command", "a")).name == "loop"  # loops push to a remote


def test_strategy_params_are_orchard_yaml_s_with_later_flags_winning():
    config = OrchardConfig.model_validate({"strategies": {"s": {"a": 1, "b": 2}}})
    assert step.strategy_params((("b", "3"), ("c", "4"), ("c", "5")), config, "s") == {"a": 1, "b": "3", "c": "5"}
    assert step.strategy_params((), config, "other") == {}


# base


async def test_the_base_is_the_checked_out_branch_or_the_one_asked_for(repo):
    assert await step.base(request("x"), here(repo)) == step.Base("main", git(repo, "rev-parse", "main"))
    with pytest.raises(UsageError, match="base branch 'nope' does not exist"):
        await step.base(request("x", "--base-branch", "nope"), here(repo))


async def test_on_a_remote_the_remote_says_what_the_base_is(monkeypatch):
    async def heads(url: str, cwd: str) -> RemoteHeads:
        assert (url, cwd) == ("https://example.invalid/p.git", ".")
        return RemoteHeads({"main": "a" * 40, "dev": "d" * 40}, "main")

    monkeypatch.setattr(preflight, "remote_heads", heads)
    remote = RunRepository("https://example.invalid/p.git", None)
    assert await step.base(request("x"), remote) == step.Base("main", "a" * 40)
    assert await step.base(request("x", "--base-branch", "dev"), remote) == step.Base("dev", "d" * 40)
    with pytest.raises(UsageError,
                       match=r"base branch 'nope' is not on the remote https://example.invalid/p.git; pass --base-branch with one of "
                             r"its branches \(dev, main\)"):
        await step.base(request("x", "--base-branch", "nope"), remote)

    async def unreachable(url: str, cwd: str) -> RemoteHeads:
        raise RemoteUnreachable("fatal: unable to connect")

    monkeypatch.setattr(preflight, "remote_heads", unreachable)
    with pytest.raises(UsageError, match="^cannot reach the remote https://example.invalid/p.git: fatal: unable to connect; check the URL"):
        await step.base(request("x"), remote)


# run_input


def test_the_run_s_input_takes_orchestration_from_the_flags_over_orchard_yaml_over_this_host(repo, no_named_server, monkeypatch):
    monkeypatch.setattr(step, "default_max_parallel", lambda: 12)
    chosen = step.ChosenStrategy("simple", BUILTIN_STRATEGIES["simple"], {}, [])
    base = step.Base("main", "c" * 40)

    def run_input(*argv: str) -> RunInput:
        return step.run_input(request("fix it", *argv), "fix it", here(repo), base, configured(repo, *argv), chosen)

    got = run_input()
    assert (got.prompt, got.repo, got.base_branch, got.base_commit, got.strategy_spec, got.max_parallel) == (
        "fix it", str(repo), "main", "c" * 40, "simple", 12)
    (repo / "orchard.yaml").write_text("orchestration: {max_parallel: 3, branch_namespace: flat}\n")
    assert (run_input().max_parallel, run_input().branch_namespace) == (3, "flat")
    assert run_input("--max-parallel", "5").max_parallel == 5
    with pytest.raises(UsageError, match="^--max-parallel: Input should be greater than or equal to 1$"):
        run_input("--max-parallel", "0")


def test_the_run_s_budget_takes_the_flags_over_orchard_yaml(repo, no_named_server):
    chosen = step.ChosenStrategy("simple", BUILTIN_STRATEGIES["simple"], {}, [])
    base = step.Base("main", "c" * 40)

    def budget(*argv: str) -> Budget | None:
        return step.run_input(request("fix it", *argv), "fix it", here(repo), base, configured(repo, *argv), chosen).budget

    assert budget() is None and budget("--budget-policy", "cancel") is None  # a policy alone limits nothing
    assert budget("--max-cost", "5") == Budget(max_cost=5.0)
    (repo / "orchard.yaml").write_text("budget: {max_cost: 2.5, policy: cancel}\n")
    assert budget() == Budget(max_cost=2.5, policy="cancel")
    assert budget("--max-tokens", "1000", "--budget-policy", "finish") == Budget(max_cost=2.5, max_tokens=1000, policy="finish")
    with pytest.raises(UsageError, match="^--max-cost: Input should be greater than 0$"):
        budget("--max-cost", "0")


def test_the_default_parallelism_is_4_per_core_at_most_32(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert step.default_max_parallel() == 8
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert step.default_max_parallel() == 32


# runner


async def test_a_named_server_s_runner_is_not_this_host_s_to_check(repo, monkeypatch, no_named_server):
    async def asked(defaults: TaskDefaults) -> RunnerCheck:
        raise AssertionError("this host was asked")

    monkeypatch.setattr(preflight, "runner", asked)
    assert await step.runner(configured(repo, "--address", "h:1")) == RunnerCheck("local")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """This host as the runner step sees it, by what preflight answers (set a key to change it)."""
    answers: dict[str, object] = {"runner": RunnerCheck("local"), "overlay": None, "disk": None}

    async def runner(defaults: TaskDefaults) -> RunnerCheck:
        return answers["runner"]  # type: ignore[return-value]

    monkeypatch.setattr(preflight, "runner", runner)
    monkeypatch.setattr(preflight, "overlay_problem", lambda: answers["overlay"])
    monkeypatch.setattr(preflight, "disk_problem", lambda: answers["disk"])
    return answers


async def test_the_runner_here_is_checked_and_what_it_cannot_give_said_once(repo, host, capsys, no_named_server):
    embedded = configured(repo)
    assert await step.runner(embedded) == RunnerCheck("local") and capsys.readouterr().err == ""
    host["runner"] = RunnerCheck("docker")
    assert (await step.runner(embedded)).imports == ["activities.runners.docker.runner"]  # what a worker started for it imports early
    host["runner"] = RunnerCheck("local", "the Docker engine is not running")
    host["overlay"] = "overlayfs is not available"
    await step.runner(configured(repo, "--network-egress", "offline"))
    assert capsys.readouterr().err.splitlines() == [
        "orchard: agents run as local processes, NOT isolated, because the Docker engine is not running (--runner local says you mean it)",
        "orchard: --network-egress offline has no effect on the local runner: agents use the host's network (it needs --runner sandbox or docker)",
        "orchard: each workspace is a full checkout, not a copy-on-write overlay, because overlayfs is not available",
    ]


async def test_where_agents_run_is_in_the_runs_first_line_and_a_sandbox_asked_for_where_none_can_run_is_an_error(repo, host, capsys, no_named_server):
    host["runner"] = RunnerCheck("sandbox")
    check = await step.runner(configured(repo))
    assert check.imports == ["activities.runners.sandbox.runner"] and capsys.readouterr().err == ""  # a run that goes well says nothing on stderr
    assert step.run_header("best-of-n", "run_1", check) == "best-of-n run run_1 (agents sandboxed by bubblewrap)"
    assert step.run_header("simple", "run_2", RunnerCheck("local"), (2, 3)) == "simple run run_2 (2 of 3, agents as local processes, NOT isolated)"
    assert step.run_header("simple", "run_3", None) == "simple run run_3"  # a named server's workers: theirs to say
    host["runner"] = RunnerCheck("sandbox", "bubblewrap is not installed (install it with `apt-get install bubblewrap`)")
    with pytest.raises(UsageError, match=r"^sandbox runner: bubblewrap is not installed \(install it with `apt-get install bubblewrap`\)$"):
        await step.runner(configured(repo, "--runner", "sandbox"))


async def test_a_runner_or_disk_the_run_cannot_have_is_one_error(repo, host, no_named_server):
    host["runner"] = RunnerCheck("docker", "the agent image x is not on this Docker host")
    with pytest.raises(UsageError, match="^docker runner: the agent image x is not on this Docker host$"):
        await step.runner(configured(repo, "--runner", "docker"))
    host["runner"], host["disk"] = RunnerCheck("local"), "the disk holding /h is full"
    with pytest.raises(UsageError, match="^the disk holding /h is full$"):
        await step.runner(configured(repo))


# serve, start, follow: on the session's server, whose scripted worker serves `scripted_queue`


@pytest.fixture
async def polled_queue(client, scripted_queue) -> str:
    """The scripted worker's queue, once the server has seen it poll (a named server's queue must be)."""
    await until(lambda: has_poller(client, scripted_queue), timeout=30)
    return scripted_queue


@pytest.fixture
def scripted_run_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the runs started, each with an empty script (its instances succeed)."""
    started: list[str] = []

    def new_run_id() -> str:
        run_id = f"run_steps_{uuid.uuid4().hex[:8]}"
        SCRIPTS[run_id] = Script()
        started.append(run_id)
        return run_id

    monkeypatch.setattr("client.runs.new_run_id", new_run_id)
    return started


def on_the_named_server(named_server: str, queue: str, *argv: str) -> tuple[RunRequest, step.Configuration, step.ChosenStrategy, RunInput]:
    req = request("fix it", "--address", named_server, "--task-queue", queue, "--output", "quiet", *argv)
    configuration = step.Configuration(OrchardConfig(), TaskDefaults(agent_command="a"), {}, named_server, None, queue, "named")
    chosen = step.ChosenStrategy("simple", BUILTIN_STRATEGIES["simple"], {}, [])
    return req, configuration, chosen, RunInput(prompt="fix it", repo=SCRIPTED_REPO, base_branch="main", defaults=configuration.defaults)


async def test_a_run_on_a_named_server_is_served_started_and_followed(named_server, polled_queue, scripted_run_ids, capsys):
    req, configuration, chosen, run_input = on_the_named_server(named_server, polled_queue, "--runs", "2")
    async with step.serve(req, configuration, chosen, RunnerCheck("local")) as served:
        assert (served.task_queue, served.early, served.serving, served.target.embedded) == (polled_queue, True, None, False)
        handles = await step.start(req, chosen, run_input, served)
        assert [h.id for h in handles] == scripted_run_ids and len(handles) == 2
        assert await step.follow(req, RunRepository(SCRIPTED_REPO, None), chosen, served, handles) == 0
    assert [await h.result() for h in handles]  # both ran to their end


async def test_detached_runs_are_their_ids_on_stdout(named_server, polled_queue, scripted_run_ids, capsys):
    req, configuration, chosen, run_input = on_the_named_server(named_server, polled_queue, "--detach")
    async with step.serve(req, configuration, chosen, RunnerCheck("local")) as served:
        handles = await step.start(req, chosen, run_input, served)
        assert await step.follow(req, RunRepository(SCRIPTED_REPO, None), chosen, served, handles) == 0
    out, err = capsys.readouterr()
    assert out == f"{scripted_run_ids[0]}\n"
    assert err.startswith(f"started simple run; watch: orchard watch {scripted_run_ids[0]}; cancel: orchard cancel {scripted_run_ids[0]}")


async def test_a_named_server_s_queue_no_worker_polls_is_refused_before_anything_starts(named_server, scripted_run_ids):
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    req, configuration, chosen, _ = on_the_named_server(named_server, queue)
    with pytest.raises(NoWorker, match=f"no worker polls task queue '{queue}'"):
        async with step.serve(req, configuration, chosen, RunnerCheck("local")):
            raise AssertionError("served")
    assert scripted_run_ids == []


async def test_the_embedded_worker_starts_with_worker_processes_of_orchard_yaml(named_server, monkeypatch):
    """What the run's orchard.yaml says reaches the worker's start, both ways it is started (early, then ensured)."""
    asked: list[tuple[str, int | None]] = []
    monkeypatch.setattr(step, "start_served", lambda queue, spec, credentials, modules, imports, processes: asked.append(("start", processes)))

    async def ensure_served(target, queue, spec, credentials, modules, processes):  # type: ignore[no-untyped-def]
        asked.append(("ensure", processes))

    async def connect(request, configuration):  # type: ignore[no-untyped-def]
        return Target(client=None, embedded=True, address="127.0.0.1:1", task_queue="orchard", ui_url=None)  # type: ignore[arg-type]

    async def worker_queue(client, queue, credentials):  # type: ignore[no-untyped-def]
        return queue

    monkeypatch.setattr(step, "ensure_served", ensure_served)
    monkeypatch.setattr(step, "_connect", connect)
    monkeypatch.setattr(step, "worker_queue", worker_queue)
    req, _, chosen, _ = on_the_named_server(named_server, "q")
    config = OrchardConfig.model_validate({"worker": {"processes": 3}})
    configuration = step.Configuration(config, TaskDefaults(agent_command="a"), {}, None, None, None, "embedded")
    async with step.serve(req, configuration, chosen, RunnerCheck("local")) as served:
        assert served.serving is not None
        await served.serving
    assert asked == [("start", 3), ("ensure", 3)]
