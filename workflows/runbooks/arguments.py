"""The grammar of `[command.X] args`, e.g. `<name> <prompt> [-a/--after <dep>] [--draft] [files...]`.

- `<name>` a required word, `[name]` an optional one, `<name>...` or `[name]...` the rest (last only);
- `[--tag <v>]` an option with a value, `[-t/--tag <v>]` with a short name, `[--draft]` a flag.

The words of `orchard runbook run CMD WORD…` become the command's values by this grammar.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\[[^\]]*\](?:\.\.\.)?|<[^>]*>(?:\.\.\.)?|\S+")
_OPTION = re.compile(rf"\[(?:-(?P<short>[A-Za-z])/)?--(?P<long>{_NAME})(?:\s+<(?P<value>[^>]+)>)?\]")
_POSITIONAL = re.compile(rf"(?:<(?P<required>{_NAME})>|\[(?P<optional>{_NAME})\])(?P<rest>\.\.\.)?")


class Positional(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    required: bool = True
    variadic: bool = False


class Option(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    short: str | None = None
    value: str | None = None
    """The value's placeholder; None for a flag (true when given)."""


class ArgSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    positionals: list[Positional] = Field(default_factory=list)
    options: list[Option] = Field(default_factory=list)

    def names(self) -> list[str]:
        return [p.name for p in self.positionals] + [o.name for o in self.options]

    def flags(self) -> dict[str, bool]:
        """Each option's flags (`--tag`, `-t`): whether it takes a value."""
        return {flag: o.value is not None for o in self.options for flag in (f"--{o.name}", *([f"-{o.short}"] if o.short else []))}

    def usage(self) -> str:
        parts = []
        for p in self.positionals:
            word = f"<{p.name}>" if p.required else f"[{p.name}]"
            parts.append(word + ("..." if p.variadic else ""))
        for o in self.options:
            flag = (f"-{o.short}/" if o.short else "") + f"--{o.name}"
            parts.append(f"[{flag}{f' <{o.value}>' if o.value else ''}]")
        return " ".join(parts)

    def parse(self, words: list[str]) -> dict[str, object]:
        """Values by name; a flag is True, an option or optional word not given is absent.
        Raises ValueError saying what is wrong and the usage."""
        by_flag = {f"--{o.name}": o for o in self.options} | {f"-{o.short}": o for o in self.options if o.short}  # as flags() says
        values: dict[str, object] = {}
        rest: list[str] = []
        tokens = iter(words)
        for word in tokens:
            flag, _, inline = word.partition("=") if word.startswith("--") else (word, "", "")
            if word == "--":
                rest.extend(tokens)
                break
            if flag.startswith("-") and len(flag) > 1 and not _is_number(flag):
                option = by_flag.get(flag)
                if option is None:
                    raise ValueError(f"unknown option {flag}; usage: {self.usage()}")
                if option.value is None:
                    if inline:
                        raise ValueError(f"{flag} takes no value; usage: {self.usage()}")
                    values[option.name] = True
                    continue
                value = inline or next(tokens, None)
                if value is None:
                    raise ValueError(f"{flag} needs a value <{option.value}>; usage: {self.usage()}")
                values[option.name] = value
            else:
                rest.append(word)
        for position in self.positionals:
            if position.variadic:
                if rest or not position.required:
                    values[position.name] = rest
                rest = []
            elif rest:
                values[position.name] = rest.pop(0)
            elif position.required:
                raise ValueError(f"missing <{position.name}>; usage: {self.usage()}")
        if rest:
            raise ValueError(f"unexpected {' '.join(rest)!r}; usage: {self.usage()}")
        missing = [p.name for p in self.positionals if p.required and p.variadic and not values.get(p.name)]
        if missing:
            raise ValueError(f"missing <{missing[0]}>...; usage: {self.usage()}")
        return values


def _is_number(word: str) -> bool:
    return bool(re.fullmatch(r"-\d+(\.\d+)?", word))


def parse_arg_spec(text: str, aliases: dict[str, str] | None = None) -> ArgSpec:
    """The grammar of an `args` string; `aliases` ({short: long}, otters' older spelling) adds
    short names. Raises ValueError naming the part it cannot read."""
    positionals: list[Positional] = []
    options: list[Option] = []
    for token in _TOKEN.findall(text):
        option, positional = _OPTION.fullmatch(token), _POSITIONAL.fullmatch(token)
        if option:
            options.append(Option(name=option["long"], short=option["short"], value=option["value"]))
        elif positional:
            name, required = positional["required"] or positional["optional"], bool(positional["required"])
            if positionals and positionals[-1].variadic:
                raise ValueError(f"{token!r} comes after {positionals[-1].name}..., which takes every remaining word")
            if required and positionals and not positionals[-1].required:
                raise ValueError(f"required <{name}> comes after optional [{positionals[-1].name}]")
            positionals.append(Positional(name=name, required=required, variadic=bool(positional["rest"])))
        else:
            raise ValueError(f"cannot read {token!r}: write <name>, [name], <name>..., [--option <value>], [-o/--option <value>] or [--flag]")
    for short, long in (aliases or {}).items():
        index = next((i for i, o in enumerate(options) if o.name == long), None)
        if index is None or len(short) != 1:
            raise ValueError(f"alias {short} = {long!r}: {'a short name is one letter' if len(short) != 1 else f'--{long} is not an option of args'}")
        options[index] = options[index].model_copy(update={"short": short})
    names = [p.name for p in positionals] + [o.name for o in options]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} named twice")
    shorts = [o.short for o in options if o.short]
    if len(shorts) != len(set(shorts)):
        raise ValueError("two options share a short name")
    return ArgSpec(positionals=positionals, options=options)
