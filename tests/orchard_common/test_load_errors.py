"""A strategy file that does not load is one line naming the user's file and line, never Orchard's
and never a traceback: from the loader the client and the worker share, and from the worker's
command (`orchard run --strategy FILE`'s is tests/client/commands/test_run_pitaya.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard_common.strategy_loader import StrategyLoadError, load_strategy

HEAD = "from workflows import Strategy, StrategyConfig\nfrom workflows import StrategyContext\nfrom workflows import InstanceResult\n\n\n"
"""Pitaya's import lines mapped: what every file below starts with (lines 1-3)."""

BROKEN: dict[str, tuple[str, str]] = {
    "syntax": (HEAD + "class Half(Strategy):\n    async def execute(self, prompt, base_branch, ctx)\n        return []\n",
               "failed to import: SyntaxError: expected ':' (line 7)"),
    "unmapped": ("from dataclasses import dataclass\n\nfrom pitaya.orchestration.strategy.base import Strategy, StrategyConfig\n",
                 "failed to import: No module named 'pitaya' (line 3); a strategy written for Pitaya imports from workflows instead "
                 "(from workflows import Strategy, StrategyConfig, StrategyContext, InstanceResult)"),
    "first_layout": ("from src.orchestration.strategies.base import Strategy, StrategyConfig\n",
                     "failed to import: No module named 'src' (line 1); a strategy written for Pitaya imports from workflows instead"),
    "missing_name": (HEAD + "from workflows import InstanceHandle\n",
                     "failed to import: cannot import name 'InstanceHandle' from 'workflows' (line 6); workflows has: AggregateTaskFailed,"),
    "at_definition": (HEAD + "class Labelled(Strategy):\n    @property\n    def name(self) -> str:\n        return self.label.lower()\n\n"
                      "    async def execute(self, prompt, base_branch, ctx):\n        return []\n",
                      "failed to import: AttributeError: 'Labelled' object has no attribute 'label' (line 9)"),
    "bad_name": (HEAD + "class Spaced(Strategy):\n    name = 'has space'\n\n    async def execute(self, prompt, base_branch, ctx):\n        return []\n",
                 "failed to import: StrategyError: strategy name 'has space' cannot name a branch"),
    "none": (HEAD + "class Unfinished(Strategy):\n    def helper(self):\n        return 1\n",
             "must define exactly one Strategy (or set STRATEGY); found: none; Unfinished (line 6) does not implement execute(); use SPEC:ClassName"),
    "several": (HEAD + "class One(Strategy):\n    async def execute(self, prompt, base_branch, ctx):\n        return []\n\n\n"
                "class Two(Strategy):\n    async def execute(self, prompt, base_branch, ctx):\n        return []\n",
                "must define exactly one Strategy (or set STRATEGY); found: One (line 6), Two (line 11); use SPEC:ClassName"),
    "orchestrator": (HEAD + "from pathlib import Path\n\n\nclass Finder(Strategy):\n    async def execute(self, prompt, base_branch, ctx):\n"
                     "        found = await ctx.wait(await ctx.run({'prompt': prompt, 'base_branch': base_branch}, key=ctx.key('find')))\n"
                     "        repo = Path(getattr(ctx._orchestrator, 'repo_path', '.'))\n        return [found]\n",
                     "line 12: ctx._orchestrator is Pitaya's private orchestrator; Orchard has none in a strategy"),
}
"""Each way a Pitaya user's file fails to load, and the line it gets (after `strategy file PATH `)."""


def broken(tmp_path: Path, kind: str) -> tuple[Path, str]:
    text, says = BROKEN[kind]
    path = tmp_path / f"{kind}.py"
    path.write_text(text)
    return path, says


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_each_load_error_names_the_users_file_and_line_in_one_line(tmp_path, kind):
    path, says = broken(tmp_path, kind)
    with pytest.raises(StrategyLoadError) as failed:
        load_strategy(str(path))
    line = str(failed.value)
    assert line.startswith(f"strategy file {path} ") and says in line and "\n" not in line, line
    assert "workflows/sdk" not in line and "orchard_common" not in line  # never a line of Orchard's


def test_an_error_in_a_module_the_file_imports_names_that_module_and_its_line(tmp_path, monkeypatch):
    (tmp_path / "helpers_for_test_load_errors.py").write_text("def boom():\n    raise RuntimeError('helper broke')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "uses_helper.py"
    path.write_text(HEAD + "from helpers_for_test_load_errors import boom\n\nboom()\n")
    with pytest.raises(StrategyLoadError, match=rf"failed to import: RuntimeError: helper broke \({tmp_path}/helpers_for_test_load_errors.py line 2\)$"):
        load_strategy(str(path))


def test_guarded_uses_of_the_orchestrator_load_as_pitaya_wrote_them(tmp_path):
    path = tmp_path / "guarded.py"
    path.write_text(HEAD + "class Careful(Strategy):\n    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n"
                    "        self._orchestrator = None  # its own attribute\n\n    async def execute(self, prompt, base_branch, ctx):\n"
                    "        out = getattr(getattr(ctx, '_orchestrator', None), 'results_dir', 'results')\n        try:\n"
                    "            run = ctx._orchestrator.state_manager.current_state.run_id\n        except Exception:\n            run = None\n"
                    "        return []\n")
    assert load_strategy(str(path)).name() == "careful"


def test_a_strategy_instance_as_strategy_picks_its_class(tmp_path):
    path = tmp_path / "instance.py"
    path.write_text(HEAD + "class Picked(Strategy):\n    async def execute(self, prompt, base_branch, ctx):\n        return []\n\n\n"
                    "class Other(Strategy):\n    async def execute(self, prompt, base_branch, ctx):\n        return []\n\n\nSTRATEGY = Picked()\n")
    assert load_strategy(str(path)).__name__ == "Picked"


@pytest.mark.parametrize("kind", ["at_definition", "orchestrator"])
def test_the_worker_says_the_same_line_and_exits_2(tmp_path, named_server, capsys, kind):
    from orchard_worker.main import main

    path, says = broken(tmp_path, kind)
    assert main(["--strategy", str(path), "--address", named_server]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orchard worker: strategy file {path} ") and says in err and err.count("\n") == 1, err
