"""A strategy's name, however its class gives it: Orchard's `NAME` (else one derived from the class
name), or a `name` of its own, as Pitaya's built-ins give it: a property, a plain class attribute or
a method. Read as Orchard reads it (`cls.name()`) and as Pitaya does (`self.name`) alike.

The name is a workflow type, so it is settled when the class is defined: a `name` property is read
once then, on an instance made without running `__init__` beyond the base's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from workflows.sdk.errors import StrategyError

GIVEN = "__orchard_given_name__"
"""Where a class keeps the name its own `name` gave (its class dict only)."""


class StrategyName(str):
    """A strategy's name: text (Pitaya's `self.name`) that may also be called (Orchard's `cls.name()`)."""

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


class NameAttribute:
    """`Strategy.name`: the class's name as a StrategyName, on the class and on its instances."""

    def __get__(self, obj: object, owner: type) -> StrategyName:
        return StrategyName(name_of(owner))


NAME_ATTRIBUTE = NameAttribute()


def strategy_name_from_class(class_name: str) -> str:
    """`BestOfNStrategy` -> `best-of-n`, `FanOutStrategy` -> `fan-out`."""
    base = class_name.removesuffix("Strategy") or class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", base).lower()


def _own_name(cls: type) -> str | None:
    given: str | None = cls.__dict__.get(GIVEN)
    return given or cls.__dict__.get("NAME") or None


def name_of(cls: type) -> str:
    """The class's own name (its `name`, else its NAME); else what a base that runs nothing itself
    named (a base holding Pitaya's `name` property for its subclasses); else derived from the class name.
    A strategy that runs (its own workflow type) never lends its name to a subclass: each needs its own."""
    own = _own_name(cls)
    if own:
        return own
    for base in cls.__mro__[1:]:
        if "__orchard_workflow__" in base.__dict__:
            break
        inherited = _own_name(base)
        if inherited:
            return inherited
    return strategy_name_from_class(cls.__name__)


def settle_given_name(cls: type, bare_instance: Callable[[], Any]) -> None:
    """Read the `name` a class gives itself (a property, a class attribute, a method) into GIVEN and
    put the shared NameAttribute in its place. `bare_instance` makes an instance for a property to read."""
    given = cls.__dict__.get("name")
    if given is None or given is NAME_ATTRIBUTE:
        return
    value: Any
    if isinstance(given, str):
        value = given
    elif isinstance(given, property) and given.fget is not None:
        value = given.fget(bare_instance())
    elif isinstance(given, classmethod):
        value = given.__func__(cls)
    elif isinstance(given, staticmethod):
        value = given.__func__()
    elif callable(given):
        value = given(bare_instance())
    else:
        raise StrategyError(f"{cls.__name__}.name must be text, a property or a method giving text, not {type(given).__name__}")
    if not isinstance(value, str) or not value:
        raise StrategyError(f"{cls.__name__}.name must give the strategy's name as text, not {value!r}")
    setattr(cls, GIVEN, str(value))
    cls.name = NAME_ATTRIBUTE  # type: ignore[attr-defined]
