"""Finding a strategy class from a spec: a built-in name, `path.py[:Class]` or `module[:Class]`.

Strategy files get a stable module name and an import hook, so Temporal's workflow sandbox can
re-import them by name like any other workflow module. Loading a strategy runs its code: only
load trusted code.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.abc
import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from orchard_common.code_cache import CachingLoader
from orchard_common.load_errors import at, import_failure, users_place
from orchard_common.sandbox import sandbox_runner
from orchard_common.strategy_source import orchestrator_use
from workflows.sdk.modules import module_name_for
from workflows.sdk.strategy import Strategy
from workflows.strategies import BUILTIN_STRATEGIES


class StrategyLoadError(Exception):
    pass


class _StrategyFileFinder(importlib.abc.MetaPathFinder):
    """Resolves the synthetic module names given to strategy files (also inside the sandbox)."""

    files: dict[str, str] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        file = self.files.get(fullname)
        return importlib.util.spec_from_file_location(fullname, file, loader=CachingLoader(fullname, file)) if file else None


_FINDER = _StrategyFileFinder()


def import_file(path: Path, what: str = "strategy file") -> ModuleType:
    """Import a Python file by path under its stable module name (workflows/sdk/modules.py)."""
    if not path.is_file():
        raise StrategyLoadError(f"{what} {path} does not exist")
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    name = module_name_for(path)
    _StrategyFileFinder.files[name] = str(path)
    if name in sys.modules:
        return sys.modules[name]
    return _import_module(name, f"{what} {path}", str(path))


def _import_module(name: str, what: str, file: str | None = None) -> ModuleType:
    """Import a strategy's module; whatever goes wrong is one line naming the user's file and line."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise StrategyLoadError(f"{what}: no module named {e.name!r} (is it on PYTHONPATH?)") from None
        raise StrategyLoadError(import_failure(what, e, file or _file_of(name), file is not None)) from None
    except Exception as e:  # a broken strategy file: report it, never a traceback
        raise StrategyLoadError(import_failure(what, e, file or _file_of(name), file is not None)) from None


def _file_of(name: str) -> str | None:
    """The file of module `name` (its import failed): the user's, wherever it is installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def check_in_sandbox(strategy: type[Strategy]) -> None:
    """What a worker checks as it starts, checked here first (call it with the event loop running):
    a strategy whose module the workflow sandbox refuses (it reads the clock, say, as it is imported)
    is one line now, not a worker that exits at start. Built-ins are checked by Orchard's tests."""
    if BUILTIN_STRATEGIES.get(strategy.name()) is strategy:
        return
    from temporalio import workflow

    try:  # as the worker's constructor does (through the SDK's _Definition: it has no public name)
        sandbox_runner().prepare_workflow(workflow._Definition.must_from_class(strategy.workflow_class()))
    except Exception as e:
        cause: BaseException = e
        while cause.__cause__ is not None:
            cause = cause.__cause__
        reason = str(cause).split(". ")[0].rstrip(".")
        file = inspect.getfile(strategy)
        raise StrategyLoadError(f"strategy file {file} cannot run in the workflow sandbox: {reason}{at(users_place(e, file), file)}; "
                                "a workflow's code must be deterministic (see 'Writing a strategy' in the README)") from None


def defined_strategies(module: ModuleType) -> list[type[Strategy]]:
    """The concrete strategies a module defines itself (not those it imports)."""
    return [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and issubclass(c, Strategy) and c.__module__ == module.__name__ and "__orchard_workflow__" in c.__dict__
    ]


def _line_of(cls: type) -> str:
    try:
        return f" (line {inspect.getsourcelines(cls)[1]})"
    except (OSError, TypeError):
        return ""


def _pick_class(module: ModuleType, class_name: str | None, what: str) -> type[Strategy]:
    if class_name:
        cls = getattr(module, class_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
            raise StrategyLoadError(f"{what} has no Strategy class {class_name!r}")
        return cls
    exported = getattr(module, "STRATEGY", None)
    if isinstance(exported, Strategy):  # Pitaya takes an instance too
        exported = type(exported)
    if inspect.isclass(exported) and issubclass(exported, Strategy):
        return exported
    own = defined_strategies(module)
    if len(own) != 1:
        names = ", ".join(f"{c.__name__}{_line_of(c)}" for c in own) or "none"
        idle = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Strategy) and c.__module__ == module.__name__ and c not in own]
        unfinished = "".join(f"; {c.__name__}{_line_of(c)} does not implement execute()" for c in idle) if not own else ""
        raise StrategyLoadError(f"{what} must define exactly one Strategy (or set STRATEGY); found: {names}{unfinished}; use SPEC:ClassName")
    return own[0]


def _refuse_pitaya_orchestrator(cls: type[Strategy], what: str | None) -> None:
    """A plain `ctx._orchestrator` in the strategy's file: one line now, not a run that stops there.
    `what`: how the user named the file (else its path)."""
    try:
        path = Path(inspect.getfile(cls))
    except TypeError:
        return
    use = orchestrator_use(path)
    if use is not None:
        line, advice = use
        raise StrategyLoadError(f"{what or f'strategy file {path}'} line {line}: {advice}")


def is_file_spec(spec: str) -> bool:
    return spec.partition(":")[0].endswith(".py") or os.sep in spec.partition(":")[0]


def resolve_spec(spec: str) -> str:
    """The spec with a file path made absolute, so a worker started elsewhere finds it."""
    if spec in BUILTIN_STRATEGIES or not is_file_spec(spec):
        return spec
    path, sep, cls = spec.partition(":")
    return f"{Path(path).expanduser().resolve()}{sep}{cls}"


def _unknown(spec: str) -> StrategyLoadError:
    known = ", ".join(sorted(BUILTIN_STRATEGIES))
    close = difflib.get_close_matches(spec, sorted(BUILTIN_STRATEGIES), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return StrategyLoadError(f"unknown strategy {spec!r}{hint}; built-in strategies: {known}; or give path.py[:Class] or module[:Class]")


def _names_another_kind_of_file(target: str) -> bool:
    """A TOML, YAML or other file given where a strategy is expected (a module name has no file)."""
    if target.endswith(".py"):
        return False
    path = Path(target).expanduser()
    return os.sep in target or path.suffix.lower() in (".toml", ".yaml", ".yml", ".json", ".txt", ".md") or path.is_file()


def load_strategy(spec: str) -> type[Strategy]:
    if spec in BUILTIN_STRATEGIES:
        return BUILTIN_STRATEGIES[spec]
    target, _, class_name = spec.partition(":")
    if _names_another_kind_of_file(target):
        raise StrategyLoadError(f"a strategy is a Python file (path.py[:Class]) or module (pkg.mod[:Class]), not {target}")
    if is_file_spec(spec):
        path = Path(target).expanduser().resolve()
        module = import_file(path)
        what = f"strategy file {target}"
    else:
        if not target.replace(".", "").replace("_", "").isalnum():
            raise _unknown(spec)
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        try:
            module = _import_module(target, f"strategy module {target}")
        except StrategyLoadError as e:
            if "." not in target and "no module named" in str(e):
                raise _unknown(spec) from None
            raise
        what = f"strategy module {target}"
    cls = _pick_class(module, class_name or None, what)
    if BUILTIN_STRATEGIES.get(cls.name()) is not cls:
        _refuse_pitaya_orchestrator(cls, what if is_file_spec(spec) and inspect.getmodule(cls) is module else None)
    return cls


def source_digest(cls: type[Strategy]) -> str:
    """A digest of the strategy's source file: a changed file gets a fresh embedded worker."""
    try:
        source = Path(inspect.getfile(cls)).read_bytes()
    except (OSError, TypeError):
        source = cls.__qualname__.encode()
    return hashlib.sha256(source + cls.name().encode()).hexdigest()[:10]


def load_module_spec(spec: str, what: str) -> str:
    """Import the module a spec names (`path.py[:Class]`, `pkg.mod[:Class]`) so code that uses it
    (a custom loop strategy) finds it by name, here and in a worker; the spec with its path made absolute."""
    target = spec.partition(":")[0]
    if is_file_spec(spec):
        spec = resolve_spec(spec)
        import_file(Path(spec.partition(":")[0]), what)
    else:
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        _import_module(target, f"{what} {target}")
    return spec


def modules_digest(specs: list[str]) -> str:
    """A digest of the files the specs name (a module on the path: its name), for a worker's queue."""
    digest = hashlib.sha256()
    for spec in specs:
        target = spec.partition(":")[0]
        path = Path(target)
        digest.update(path.read_bytes() if is_file_spec(spec) and path.is_file() else spec.encode())
    return digest.hexdigest()[:10]
