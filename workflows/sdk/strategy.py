"""`Strategy` and `StrategyConfig`: what a strategy author subclasses.

A strategy is plain Python; defining a concrete subclass also defines its Temporal workflow
type (named after the strategy) in the same module, so the worker can register it and the
workflow sandbox can re-import it by name.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, cast

from pydantic import TypeAdapter, ValidationError
from temporalio import workflow
from typing_extensions import TypeVar

from workflows.sdk.errors import ConfigError, StrategyError
from workflows.sdk.launch import Launch
from workflows.sdk.models import InstanceResult, TaskDefaults, first_error
from workflows.sdk.naming import NAME_ATTRIBUTE, StrategyName, settle_given_name
from workflows.sdk.naming import strategy_name_from_class as strategy_name_from_class
from workflows.sdk.params import parse_param_value, takes, value_types
from workflows.sdk.runtime import StrategyWorkflow, workflow_class_for

if TYPE_CHECKING:
    from workflows.sdk.context import Context


@dataclass
class StrategyConfig:
    """Base of strategy configs; subclass it as a dataclass and add your own knobs."""

    model: str = ""

    def validate(self) -> None:
        """Check the values together, raising ValueError (Pitaya's hook; `__post_init__` works too):
        `orchard run` refuses bad values with its message before the run starts."""


STRATEGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
"""A strategy's name is a workflow type and one component of its branches (orchard/<name>/…)."""


def check_strategy_name(name: str) -> str:
    if not STRATEGY_NAME.fullmatch(name) or name.endswith(".lock"):
        raise StrategyError(
            f"strategy name {name!r} cannot name a branch (orchard/{name}/...): use letters, digits, '-', '_' and single dots"
        )
    return name


TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", list: "a list", dict: "a mapping"}


def _described(kinds: set[Any]) -> str:
    words = [TYPE_WORDS.get(k, getattr(k, "__name__", str(k))) for k in kinds if k is not type(None)]
    return " or ".join(sorted(set(words))) or "no value"


ConfigT = TypeVar("ConfigT", bound=StrategyConfig, default=StrategyConfig)
"""The config class a strategy takes (`class BestOfN(Strategy[BestOfNConfig])`, whose
`get_config_class` returns it): what `create_config` returns."""


class Strategy(Generic[ConfigT]):
    """Subclass and implement `execute(prompt, base_branch, ctx) -> list[InstanceResult]`."""

    NAME: ClassVar[str | None] = None
    if TYPE_CHECKING:
        name: ClassVar[StrategyName]
    else:
        name = NAME_ATTRIBUTE
    """The strategy's name, `cls.name()` (Orchard) or `self.name` (Pitaya): its own `name` (a
    property, a class attribute or a method, read once as the class is defined), else its NAME,
    else derived from the class name (workflows/sdk/naming.py)."""
    LAUNCH: ClassVar[Launch] = Launch()
    """What the client checks before it starts a run (a loop, a pipeline and a queue consumer have their own)."""
    __orchard_workflow__: ClassVar[type[StrategyWorkflow]]
    """The strategy's workflow class, set on each concrete subclass as it is defined."""

    def __init__(self, params: dict[str, Any] | None = None, defaults: TaskDefaults | None = None):
        self.params = dict(params or {})
        self.defaults = defaults or TaskDefaults()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        settle_given_name(cls, lambda: _bare(cls))
        if inspect.isabstract(cls) or cls.execute is Strategy.execute:
            return
        check_strategy_name(cls.name())
        wf = workflow_class_for(cls)
        cls.__orchard_workflow__ = wf
        module = sys.modules.get(cls.__module__)
        if module is not None:
            setattr(module, wf.__name__, wf)

    @classmethod
    def workflow_class(cls) -> type[StrategyWorkflow]:
        wf: type[StrategyWorkflow] | None = cls.__dict__.get("__orchard_workflow__")
        if wf is None:
            raise StrategyError(f"{cls.__name__} does not implement execute()")
        return wf

    def get_config_class(self) -> type[ConfigT]:
        """The strategy's config class; a strategy taking its own config (a `Strategy[MyConfig]`) returns it."""
        # StrategyConfig is ConfigT's default: right for a plain `Strategy`, overridden by the others.
        return cast("type[ConfigT]", StrategyConfig)

    @classmethod
    def normalize_params(cls, params: dict[str, Any], defaults: TaskDefaults | None = None) -> dict[str, Any]:
        """Validate `-S`/config-file values; returns JSON-ready values. Raises ConfigError."""
        config_cls = cls(defaults=defaults).get_config_class()
        hints = typing.get_type_hints(config_cls)
        names = [f.name for f in dataclasses.fields(config_cls)]
        unknown = [k for k in params if k not in names]
        if unknown:
            raise ConfigError(
                f"unknown parameter {unknown[0]!r} for strategy {cls.name()!r}; "
                f"accepted: {', '.join(names)}"
            )
        typed = {k: parse_param_value(v, hints.get(k, Any)) for k, v in params.items()}
        for key, value in typed.items():  # pydantic would take `true` as 1 for a number
            kinds = value_types(hints.get(key, Any))
            if isinstance(value, bool) and kinds is not None and not takes(kinds, value):
                raise ConfigError(f"bad value for parameter {key!r} of strategy {cls.name()!r}: it takes {_described(kinds)}, not a yes/no value "
                                  f"(got {params[key]!r})")
        adapter = TypeAdapter(config_cls)
        try:
            config = adapter.validate_python(typed)
        except ValidationError as e:
            where, message = first_error(e)
            if not where:  # a check across parameters (__post_init__)
                raise ConfigError(f"bad parameters for strategy {cls.name()!r}: {message}") from None
            key = where.split(".")[0]
            got = repr(params.get(key))
            raise ConfigError(
                f"bad value for parameter {key!r} of strategy {cls.name()!r}: {message} "
                f"(got {got if len(got) <= 80 else got[:77] + '...'})"
            ) from None
        _validated(config, cls.name())
        dumped = adapter.dump_python(config, mode="json")
        return {k: dumped[k] for k in typed}

    def create_config(self, **overrides: Any) -> ConfigT:
        """The strategy's config from `-S` values and the config file, over its defaults (and
        `overrides` over them all, as Pitaya's `create_config(**kwargs)`)."""
        config_cls = self.get_config_class()
        values = {**self.params, **overrides}
        names = {f.name for f in dataclasses.fields(config_cls)}
        if "model" in names and "model" not in values and self.defaults.model:
            values["model"] = self.defaults.model
        try:
            config = TypeAdapter(config_cls).validate_python(values)
        except ValidationError as e:
            raise ConfigError(str(e)) from None
        _validated(config, self.name())
        return config

    def set_config_overrides(self, overrides: dict[str, Any]) -> None:
        """Pitaya's way to configure a strategy another one runs in its own run (`s = ScoringStrategy();
        s.set_config_overrides({...}); await s.execute(prompt, base_branch, ctx)`): the values its
        create_config reads, in place of the run's parameters."""
        self.params = dict(overrides)

    @property
    def logger(self) -> Any:
        """Replay-safe logger: messages are not repeated when the workflow replays."""
        return workflow.logger

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        raise NotImplementedError


def _bare(cls: type[Strategy[Any]]) -> Strategy[Any]:
    """An instance for a `name` property to read as its class is defined: only the base's __init__ ran."""
    bare = object.__new__(cls)
    Strategy.__init__(bare)
    return bare


def _validated(config: Any, strategy: str) -> None:
    """A config's `validate()` (Pitaya's hook) run; what it raises is a ConfigError, one line."""
    check = getattr(config, "validate", None)
    if not callable(check):
        return
    try:
        check()
    except ValueError as e:
        raise ConfigError(f"bad parameters for strategy {strategy!r}: {e}") from None
    except Exception as e:  # a bug in the check itself: still one line
        raise ConfigError(f"bad parameters for strategy {strategy!r}: validate() failed: {type(e).__name__}: {e}") from None
