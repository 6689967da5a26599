"""Tests an agent wrote, brought into another commit's checkout by `verify_commit` (real git, real
pytest): each test's outcome comes back, the candidate's own files in the test folder go first, a
link the candidate planted is replaced, never followed, a link among the tests is left out, and the tests run in an offline sandbox where there is one.
And `commit_diff`, what a judge is shown."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.runners.sandbox import sandbox_problem
from activities.verification.commit import verify_commit
from activities.verification.diff import commit_diff
from tests.conftest import git
from workflows.sdk.models import DiffInput, TestSource, VerifyInput

TESTS = '''
import os

from greet import greet

OUTSIDE = "HOST_FILE"


def test_the_host_is_out_of_sight():
    assert not os.path.exists(OUTSIDE)

def test_hello():
    assert greet("Ann") == "Hello, Ann!"

def test_empty():
    assert greet("") == "Hello!"
'''


def commit(repo: Path, branch: str, files: dict[str, str], links: dict[str, str] | None = None) -> str:
    git(repo, "checkout", "-q", "-b", branch, "main")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for name, target in (links or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", branch)
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return sha


async def test_a_candidate_runs_the_writers_tests_in_place_of_its_own_and_no_link_is_followed(repo, orchard_home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "host-file").write_text("the host's\n")  # a sandboxed test sees no such file
    tests_text = TESTS.replace("HOST_FILE", str(tmp_path / "host-file"))
    writer = commit(repo, "writer", {"orchard_tests/writer_1/test_greet.py": tests_text, "orchard_tests/writer_1/conftest.py": ""},
                    links={"orchard_tests/writer_1/test_secret.py": "/etc/hostname"})
    candidate = commit(repo, "candidate", {
        "greet.py": 'def greet(name):\n    return f"Hello, {name}!"\n',
        "orchard_tests/writer_2/test_mine.py": "def test_rigged():\n    assert True\n",
    }, links={"orchard_tests/writer_1": str(outside)})
    tests = [TestSource(commit=writer, path="orchard_tests/writer_1"), TestSource(commit=writer, path="orchard_tests/writer_2")]
    env = ActivityEnvironment()
    ran = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_t1", commit=candidate, label="tests/candidate/1",
                                                   command="python -m pytest -q -p no:cacheprovider", tests=tests))
    sandboxed = sandbox_problem("offline") is None
    assert ran.tests == {"orchard_tests/writer_1/test_greet.py::test_hello": True, "orchard_tests/writer_1/test_greet.py::test_empty": False,
                         "orchard_tests/writer_1/test_greet.py::test_the_host_is_out_of_sight": sandboxed}
    assert ("(not sandboxed: " in ran.output_tail) is not sandboxed
    assert not ran.passed and not any(outside.iterdir())  # the planted link was replaced, nothing written through it
    assert "orchard_tests/writer_1/test_secret.py: not a regular file (mode 120000), left out" in ran.output_tail
    log = Path(ran.log_path).read_text()
    assert log.splitlines()[0].endswith(" -rA orchard_tests/writer_1") and "test_rigged" not in log  # writer 2 wrote nothing: its folder goes
    base = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_t1", commit=git(repo, "rev-parse", "main"), label="tests/base",
                                                    command="python -m pytest -q -p no:cacheprovider", tests=tests[:1]))
    assert base.tests == {}  # greet.py is not there: the module does not import, no test ran


RIGGED_CONFTEST = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"  # every test passes, whatever it asserts
"""


async def test_a_candidate_cannot_rig_the_writers_tests_through_pytests_harness(repo, orchard_home):
    """A candidate that adds a conftest.py hook passing every test, changes the base's conftest.py and
    adds a pytest.ini deselecting tests: the tests run with the base's harness, and their outcomes are true."""
    git(repo, "checkout", "-q", "main")
    (repo / "conftest.py").write_text("LEVEL = 'base'\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the base's conftest")
    writer = commit(repo, "writer-h", {"orchard_tests/writer_1/test_greet.py": TESTS.replace("HOST_FILE", "/nonexistent")})
    candidate = commit(repo, "candidate-h", {
        "greet.py": 'def greet(name):\n    return "nothing"\n',
        "conftest.py": RIGGED_CONFTEST,
        "orchard_tests/conftest.py": RIGGED_CONFTEST,
        "pytest.ini": "[pytest]\naddopts = -k 'not hello'\n",
    })
    ran = await ActivityEnvironment().run(verify_commit, VerifyInput(
        repo=str(repo), run_id="run_t2", commit=candidate, label="tests/rigged", command="python -m pytest -q -p no:cacheprovider",
        tests=[TestSource(commit=writer, path="orchard_tests/writer_1")]))
    assert ran.tests == {"orchard_tests/writer_1/test_greet.py::test_hello": False, "orchard_tests/writer_1/test_greet.py::test_empty": False,
                         "orchard_tests/writer_1/test_greet.py::test_the_host_is_out_of_sight": True}
    for line in ("conftest.py: the candidate's changes left out", "orchard_tests/conftest.py: the candidate's file left out",
                 "pytest.ini: the candidate's file left out"):
        assert line in ran.output_tail, ran.output_tail


async def test_a_judge_is_shown_the_commits_diff_cut_to_its_limit(repo, orchard_home):
    base = git(repo, "rev-parse", "main")
    candidate = commit(repo, "candidate", {"greet.py": "def greet(name):\n    return name\n" + "# padding\n" * 400})
    shown = await ActivityEnvironment().run(commit_diff, DiffInput(repo=str(repo), base=base, commit=candidate, limit=300))
    assert shown.startswith(" greet.py | 402 ++++") and "+def greet(name):" in shown
    assert "[... the diff is cut here:" in shown and len(shown) < 400
