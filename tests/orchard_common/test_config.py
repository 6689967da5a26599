"""orchard.yaml's `worker.processes`: one definition (orchard_common/config.py), a bad value one
line naming the file and the setting; the embedded workers start with it (the launcher's path:
tests/client/test_run_steps.py), and `python worker.py` takes it when --processes is not given."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.embedded import background_workers
from client.embedded.dev_settings import DevServerSettings
from orchard_common.config import ConfigFileError, load_config
from orchard_worker.main import parse_args, processes_of


def _config(tmp_path: Path, processes: str) -> Path:
    path = tmp_path / "orchard.yaml"
    path.write_text(f"worker:\n  processes: {processes}\n")
    return path


@pytest.mark.parametrize("value, shown", [("0", "0"), ("-2", "-2"), ("two", "'two'"), ("2.5", "2.5"), ("true", "True"), ("201", "201"), ("'4'", "'4'")])
def test_a_bad_number_of_worker_processes_is_one_line(tmp_path: Path, value: str, shown: str):
    path = _config(tmp_path, value)
    with pytest.raises(ConfigFileError) as raised:
        load_config(path)
    assert str(raised.value) == (f"config file {path}: worker.processes: {shown} is no number of worker processes: give a whole number from 1 to 200 "
                                 "(each runs one of the worker's 200 activities at least)")


def test_worker_processes_is_read_and_unset_by_default(tmp_path: Path):
    assert load_config(_config(tmp_path, "4")).worker.processes == 4
    assert load_config(None, tmp_path / "nowhere").worker.processes is None


def test_python_worker_py_takes_it_unless_processes_is_given_and_another_process_of_a_worker_is_one(tmp_path: Path):
    path = str(_config(tmp_path, "3"))
    assert processes_of(parse_args(["--config", path])) == 3
    assert processes_of(parse_args(["--config", path, "--processes", "2"])) == 2
    assert processes_of(parse_args(["--config", path, "--parent", "1234"])) == 1  # its first process started it: it starts no more
    (tmp_path / "plain.yaml").write_text("worker: {}\n")
    assert processes_of(parse_args(["--config", str(tmp_path / "plain.yaml")])) == 1
    with pytest.raises(ConfigFileError, match=r"^worker.processes 3: more than --max-activities 2 \(each process runs one activity at least\)$"):
        processes_of(parse_args(["--config", path, "--max-activities", "2"]))


def test_the_embedded_worker_is_started_with_the_processes_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "home"))
    started: list[list[str]] = []
    monkeypatch.setattr(background_workers, "spawn", lambda cmd, log, pid_file, env=None: started.append(cmd))
    background_workers.start_worker(DevServerSettings(), "orchard-a", processes=3)
    background_workers.start_worker(DevServerSettings(), "orchard-b")
    assert [cmd[cmd.index("--processes") + 1] for cmd in started] == ["3", "1"]
