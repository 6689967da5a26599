"""How the `orchard` command ends, whichever process runs it: --help, usage errors and a closed
stdout end as exit codes main() returns (the warm client's child must never see them escape)."""

from __future__ import annotations

import io

import pytest

from client.cli import main
from client.render import make_console


def test_help_and_usage_errors_are_exit_codes_not_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: orchard")
    assert main(["run", "--help"]) == 0
    assert "--strategy STRATEGY" in capsys.readouterr().out
    assert main(["runn"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("orchard: argument command: invalid choice: 'runn'")


class _ClosedPipe(io.StringIO):
    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_is_a_broken_pipe_not_richs_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    console = make_console()
    with pytest.raises(BrokenPipeError):  # which main() ends on quietly, exit 0, as on any other write
        console.print("run run_x  strategy simple")
