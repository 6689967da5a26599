"""custom: a loop decider of the user's own (a "custom loop strategy" in the user's words and in
the messages below), loaded from a file or a module, behind a wrapper that turns its mistakes into
clear errors.

`module` names the class: "/abs/path/file.py", "/abs/path/file.py:ClassName", "pkg.mod" or
"pkg.mod:ClassName". Without a class name the module's `LOOP_STRATEGY` is used, else its own
class named `Strategy` or `CustomStrategy` (the exports AgentGate's loader looks for), else the
one class it defines with a `should_continue`. A file is imported under its stable module name
(workflows/sdk/modules.py), which the client's and the worker's import hook map to the file; the
client makes the path absolute before the loop starts.

The class implements Orchard's interface (REQUIRED_METHODS, see base.LoopDecider;
`workspace_files` is optional) or AgentGate's, ported to Python names (agentgate.py; it runs
behind an AgentGateDecider). It is instantiated as `cls(config)` when its `__init__` takes an
argument, else as `cls()` (then `config` must be empty). `max_iterations` and
`runs_verification` come from the instance when it has them, else from the settings
(max_iterations) and True. Subclassing base.BaseLoopDecider (old name: BaseLoopStrategy) gives the
state and helpers the built-in modes use.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from workflows.loops.models import Decision, IterationContext
from workflows.loops.modes.agentgate import AGENTGATE_METHODS, AgentGateDecider, is_agentgate_class
from workflows.loops.modes.base import REQUIRED_METHODS, delegate_error, parse_settings
from workflows.loops.modes.settings import CustomSettings
from workflows.sdk.errors import ConfigError, StrategyError
from workflows.sdk.modules import module_name_for

T = TypeVar("T")


class CustomDecider:
    """Delegates every LoopDecider method to the loaded class's instance. Whatever the instance
    raises becomes a StrategyError naming `module:Class.method` (a ConfigError stays one)."""

    mode: ClassVar[str] = "custom"
    Settings: ClassVar[type[BaseModel]] = CustomSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: CustomSettings = parse_settings(self.mode, CustomSettings, settings or {})
        module_spec, _, class_name = self.settings.module.partition(":")
        cls = load_class(module_spec, class_name)
        self.target = f"{module_spec}:{cls.__name__}"
        self.delegate = self._instantiate(cls, self.settings.config)
        self.max_iterations: int = self._attribute("max_iterations", self.settings.max_iterations, int)
        self.runs_verification: bool = self._attribute("runs_verification", True, bool)
        self.agentgate: AgentGateDecider | None = None
        """The delegate written to AgentGate's interface, run as a LoopDecider; None: Orchard's."""
        if is_agentgate_class(cls):
            config = {"mode": self.mode, "strategy_name": self.settings.module, "params": dict(self.settings.config), "max_iterations": self.max_iterations}
            self.agentgate = AgentGateDecider(self.target, self.delegate, config, self.max_iterations, self.runs_verification)

    def on_iteration_start(self, iteration: int) -> None:
        if self.agentgate is not None:
            return self.agentgate.on_iteration_start(iteration)
        self._call("on_iteration_start", iteration)

    def should_continue(self, context: IterationContext) -> Decision:
        if self.agentgate is not None:
            return self.agentgate.should_continue(context)
        return self._decision(self._call("should_continue", context))

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        if self.agentgate is not None:
            return self.agentgate.on_iteration_complete(context, decision)
        self._call("on_iteration_complete", context, decision)

    def on_run_complete(self, decision: Decision) -> None:
        if self.agentgate is not None:
            return self.agentgate.on_run_complete(decision)
        self._call("on_run_complete", decision)

    def get_state(self) -> dict[str, Any]:
        state = self.agentgate.get_state() if self.agentgate is not None else self._call("get_state")
        if not isinstance(state, dict):
            raise StrategyError(f"custom loop strategy {self.target}.get_state returned {type(state).__name__}, not a dict")
        try:
            return json.loads(json.dumps(state))
        except (TypeError, ValueError) as e:
            raise StrategyError(f"custom loop strategy {self.target}.get_state returned a state that is not JSON-ready: {e}") from None

    def restore_state(self, state: dict[str, Any]) -> None:
        if self.agentgate is not None:
            return self.agentgate.restore_state(json.loads(json.dumps(state)))
        self._call("restore_state", json.loads(json.dumps(state)))

    def workspace_files(self, iteration: int) -> dict[str, str]:
        if self.agentgate is not None or not callable(getattr(self.delegate, "workspace_files", None)):
            return {}
        files = self._call("workspace_files", iteration)
        if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            raise StrategyError(f"custom loop strategy {self.target}.workspace_files must return a dict of relative path -> text")
        return files

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.delegate, method)(*args)
        except Exception as e:
            raise delegate_error(self.target, method, e) from e

    def _instantiate(self, cls: type, config: dict[str, Any]) -> Any:
        takes_config = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in inspect.signature(cls).parameters.values())
        if not takes_config and config:
            raise ConfigError(f"custom loop strategy {self.target} takes no config (its __init__ has no parameter), yet config has {', '.join(sorted(config))}")
        try:
            return cls(dict(config)) if takes_config else cls()
        except Exception as e:
            raise delegate_error(self.target, "__init__", e) from e

    def _attribute(self, name: str, default: T, kind: type[T]) -> T:
        try:
            value = getattr(self.delegate, name, default)
        except Exception as e:
            raise delegate_error(self.target, name, e) from e
        # bool is an int: max_iterations=True is a mistake
        valid = (isinstance(value, int) and not isinstance(value, bool) and value >= 1) if kind is int else isinstance(value, kind)
        if not valid:
            expected = "a positive integer" if kind is int else "a bool"
            raise ConfigError(f"custom loop strategy {self.target}.{name} must be {expected}, not {value!r}")
        return value

    def _decision(self, result: Any) -> Decision:
        if isinstance(result, Mapping):
            try:
                result = Decision.model_validate(dict(result))
            except ValidationError as e:
                problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'decision'}: {err['msg']}" for err in e.errors())
                raise StrategyError(f"custom loop strategy {self.target}.should_continue returned a dict that is not a Decision ({problems})") from None
        if not isinstance(result, Decision):
            raise StrategyError(f"custom loop strategy {self.target}.should_continue returned {type(result).__name__}, not a Decision")
        try:
            json.dumps(result.metadata)
        except (TypeError, ValueError) as e:
            raise StrategyError(f"custom loop strategy {self.target}.should_continue returned a decision whose metadata is not JSON-ready: {e}") from None
        return result


def load_class(module_spec: str, class_name: str = "") -> type:
    """The decider class `module_spec[:class_name]` names, checked for the interface."""
    module = _import(module_spec)
    cls = _pick_class(module, module_spec, class_name)
    agentgate = is_agentgate_class(cls)
    missing = [method for method in (AGENTGATE_METHODS if agentgate else REQUIRED_METHODS) if not callable(getattr(cls, method, None))]
    if missing:
        which = "AgentGate's loop strategy interface" if agentgate else "the loop strategy interface"
        raise ConfigError(f"custom loop strategy {module_spec}:{cls.__name__} does not implement {which}; missing: {', '.join(missing)}")
    return cls


def _import(module_spec: str) -> ModuleType:
    what = f"custom loop module {module_spec!r}"
    is_file = module_spec.endswith(".py") or "/" in module_spec
    if is_file:
        path = Path(module_spec)
        if not path.is_absolute():
            raise ConfigError(f"{what} is a relative path; the loop needs it absolute (the client makes it so)")
        name = module_name_for(path)
    elif all(part.isidentifier() for part in module_spec.split(".")):
        name = module_spec
    else:
        raise ConfigError(f"{what} is neither a file (path/to/file.py[:Class]) nor a module (pkg.mod[:Class])")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(f"{e.name}.")):
            hint = "does the file exist, and did the client load it?" if is_file else "is it on PYTHONPATH?"
            raise ConfigError(f"{what} not found ({hint})") from None
        raise ConfigError(f"{what} failed to import: ModuleNotFoundError: {e}") from None
    except Exception as e:  # the module's own code failed: say so in one line, never a traceback
        raise ConfigError(f"{what} failed to import: {type(e).__name__}: {e}") from None


AGENTGATE_EXPORTS = ("Strategy", "CustomStrategy")
"""The exports AgentGate's loader takes when a module has no default one (its `LoopStrategy` is
Orchard's old name of LoopDecider, which a module may import: not the module's own class)."""


def _pick_class(module: ModuleType, module_spec: str, class_name: str) -> type:
    own = list(dict.fromkeys(c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__))  # an alias is the same class
    names = ", ".join(c.__name__ for c in own) or "none"
    if class_name:
        cls = getattr(module, class_name, None)
        if not inspect.isclass(cls):
            raise ConfigError(f"custom loop module {module_spec!r} has no class {class_name!r}; its classes: {names}")
        return cls
    exported = getattr(module, "LOOP_STRATEGY", None)
    if exported is not None:
        if not inspect.isclass(exported):
            raise ConfigError(f"custom loop module {module_spec!r}: LOOP_STRATEGY must be a class, not {type(exported).__name__}")
        return exported
    named = next((c for c in (getattr(module, name, None) for name in AGENTGATE_EXPORTS) if c in own), None)
    if named is not None:
        return named
    deciders = [c for c in own if callable(getattr(c, "should_continue", None))]
    if len(deciders) != 1:
        found = ", ".join(c.__name__ for c in deciders) or "none"
        raise ConfigError(
            f"custom loop module {module_spec!r} must define exactly one class with should_continue (found: {found}); "
            f"set LOOP_STRATEGY or give {module_spec}:ClassName"
        )
    return deciders[0]


CustomLoopStrategy = CustomDecider
"""The old name of CustomDecider, kept for code written before the rename."""
