"""Values in shell commands: each one quoted for the place where it stands.

A shell template (model.py's `ShellTemplate` fields: a phase's `run`, a guard's condition, a
queue's source, ...) renders every value it interpolates as a slot. The rendered text is then read
as bash reads it, and each slot becomes its value escaped for the quoting around it: one word
where the command is bare (shlex.quote), `'\\''` for a quote inside '...', backslashes inside "..."
and in unquoted here-documents. A value that would change how bash reads the rest (end a
here-document or a comment), or that stands where no quoting holds (inside ${...} or backticks,
right after `$` or a backslash, a non-number in $((...))), is refused: text from inputs, queue
items and outputs is data, never shell code. What the runbook wrote itself (the template, its
[config], a value marked `raw`) is shell code, read as it is.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Self

SLOT = "\x00"
_SLOT = re.compile(r"\x00(\d+)\x00")
_WORD = re.compile(r"[^\s;&|()<>'\"\\$`\x00]+")
_HEREDOC_WORD = re.compile(r"""(?:[^\s;&|()<>'"\\\x00]|\\.|'[^'\x00]*'|"(?:[^"\\\x00]|\\.)*")+""", re.DOTALL)
_INTEGER = re.compile(r"[+-]?\d+")
_SEPARATOR = re.compile(r"[\s\w@%+=:,./-]*")
"""What may join quoted words and keep them words: blanks and characters the shell takes as they are."""
_OPENERS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
"""Words after which a command starts (so `case` or `[[` there is a keyword)."""


class ShellError(ValueError):
    """A value that cannot stand where the template puts it; says why in one line."""


class ShellText(str):
    """Shell code the runbook wrote (its [config], a value marked `raw`): inserted as it is."""


class Quoted(str):
    """A value the template `quote`d: this text (shell words) where the command is bare; elsewhere its
    plain text, escaped for where it stands (inside "..." a quoted word would show its quotes)."""

    plain: str

    def __new__(cls, text: str, plain: str) -> Self:
        quoted = super().__new__(cls, text)
        quoted.plain = plain
        return quoted


def quote(value: object) -> Quoted:
    text = str(value)
    return Quoted(shlex.quote(text), text)


def joined(items: list[object], separator: str, text: str) -> str:
    """`join` of quoted words (or of config's shell text) by blanks stays shell words; anything else is one value."""
    if not items or not _SEPARATOR.fullmatch(separator) or not all(isinstance(i, (Quoted, ShellText)) for i in items):
        return text
    if all(isinstance(i, ShellText) for i in items):
        return ShellText(text)
    return Quoted(text, separator.join(i.plain if isinstance(i, Quoted) else str(i) for i in items))


def plain(value: object) -> str:
    return value.plain if isinstance(value, Quoted) else str(value)


def brief(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


@dataclass
class _Frame:
    kind: str
    """bare (the command, or inside $(...)), single, double, ansi ($'...'), param (${...}), backtick, arith, comment, heredoc."""
    nested: bool = False
    parens: int = 0
    cases: int = 0
    tests: int = 0
    """bare: inside [[ ... ]], where bash reads -eq's operands as arithmetic."""
    delimiter: str = ""
    expands: bool = False
    strip_tabs: bool = False
    line: str = ""
    valued: bool = False
    """heredoc: the current line holds a value."""

    def key(self) -> tuple[object, ...]:
        return self.kind, self.nested, self.parens, self.cases, self.tests, self.delimiter, self.expands, self.strip_tabs


class _Reader:
    """Reads a command as bash does, as far as where quoting begins and ends."""

    def __init__(self) -> None:
        self.frames = [_Frame("bare")]
        self.pending: list[_Frame] = []
        """Here-documents whose bodies start after the current line."""
        self.command = True
        """At the start of a command: a keyword may stand here."""
        self.word = True
        """At the start of a word: a `#` starts a comment."""

    @property
    def top(self) -> _Frame:
        return self.frames[-1]

    def state(self) -> tuple[object, ...]:
        return tuple(f.key() for f in self.frames), tuple(f.key() for f in self.pending)

    def push(self, frame: _Frame) -> None:
        self.frames.append(frame)
        self.word = self.command = frame.kind == "bare"

    def pop(self) -> None:
        self.frames.pop()
        self.word = self.command = False

    def feed(self, text: str, value: bool) -> None:
        i = 0
        while i < len(text):
            i = self.step(text, i, value)

    def step(self, text: str, i: int, value: bool) -> int:
        """Reads the token at `i`; returns where the next one starts."""
        kind = self.top.kind
        if kind in ("bare", "arith"):
            return self._bare(text, i, value) if kind == "bare" else self._arith(text, i)
        c = text[i]
        if kind == "single":
            if c == "'":
                self.pop()
            return i + 1
        if kind == "comment":
            if c == "\n":
                if value:
                    raise ShellError("a value with a line break cannot stand in a # comment (the next line would be a command)")
                self.frames.pop()
                return i
            return i + 1
        if kind == "heredoc":
            return self._heredoc_body(text, i, value)
        if c == "\\":
            _no_value_after(text, i, "a backslash")
            return i + 2
        if kind == "ansi" or kind == "backtick":
            if c == ("'" if kind == "ansi" else "`"):
                self.pop()
            return i + 1
        if kind == "param" and c == "}":
            self.pop()
            return i + 1
        if kind == "double" and c == '"':
            self.pop()
            return i + 1
        if kind == "param" and c in "'\"" and self.frames[-2].kind != "double":
            self.push(_Frame("single" if c == "'" else "double"))
            return i + 1
        return self._expansion(text, i)

    def _expansion(self, text: str, i: int) -> int:
        """`$(`, `$((`, `${`, a backtick, or a plain character (inside "...", ${...}, $((...)), a here-document)."""
        c = text[i]
        if c == "`":
            self.push(_Frame("backtick"))
            return i + 1
        if c != "$":
            return i + 1
        following = text[i + 1:i + 3]
        if following[:1] == SLOT:
            raise ShellError("a value right after `$` would be read as shell syntax ({name} is the template's value, $NAME the shell's)")
        if following == "((":
            self.push(_Frame("arith"))
            return i + 3
        if following[:1] == "(":
            self.push(_Frame("bare", nested=True))
            return i + 2
        if following[:1] == "{":
            self.push(_Frame("param"))
            return i + 2
        return i + 1

    def _bare(self, text: str, i: int, value: bool) -> int:
        frame, c = self.top, text[i]
        if c in " \t":
            self.word = True
            return i + 1
        if c in ";&|\n":
            self.word = self.command = True
            if c == "\n" and self.pending:
                self.frames.append(self.pending.pop(0))
            return i + 1
        if c == "(":
            if self.command and text.startswith("((", i):
                self.push(_Frame("arith"))
                return i + 2
            frame.parens += 1
            self.word = self.command = True
            return i + 1
        if c == ")":
            if frame.parens:
                frame.parens -= 1
            elif frame.nested and not frame.cases:
                self.pop()
                return i + 1
            self.word, self.command = True, False
            return i + 1
        if c in "<>":
            self.word = True
            if text.startswith("<<<", i):  # a here-string: a word follows
                return i + 3
            if text.startswith("<<", i):
                return self._heredoc(text, i)
            return i + 1
        if c == "#" and self.word:
            self.push(_Frame("comment"))
            return i + 1
        if self.word and value:
            self.command = False
        elif self.word:
            self._keyword(frame, text, i)
        self.word = False
        if c == "\\":
            _no_value_after(text, i, "a backslash")
            return i + 2
        if c == "'":
            self.push(_Frame("single"))
            return i + 1
        if c == '"':
            self.push(_Frame("double"))
            return i + 1
        if c == "$" and text[i + 1:i + 2] in ("'", '"'):
            self.push(_Frame("ansi" if text[i + 1] == "'" else "double"))
            return i + 2
        return self._expansion(text, i)

    def _keyword(self, frame: _Frame, text: str, i: int) -> None:
        match = _WORD.match(text, i)
        word = match[0] if match and (match.end() == len(text) or text[match.end()] in " \t\n;&|()<>") else ""
        if word == "]]" and frame.tests:
            frame.tests -= 1
        if self.command:
            if word == "case":
                frame.cases += 1
            elif word == "esac" and frame.cases:
                frame.cases -= 1
            elif word == "[[":
                frame.tests += 1
        self.command = word in _OPENERS

    def _arith(self, text: str, i: int) -> int:
        frame, c = self.top, text[i]
        if c == "(":
            frame.parens += 1
        elif c == ")" and frame.parens:
            frame.parens -= 1
        elif c == ")":
            self.pop()
            return i + 2 if text.startswith("))", i) else i + 1
        elif c == "\\":
            _no_value_after(text, i, "a backslash")
            return i + 2
        elif c in "$`":
            return self._expansion(text, i)
        return i + 1

    def _heredoc(self, text: str, i: int) -> int:
        """`<<WORD` or `<<-WORD`: the body starts after this line and ends at a line that is WORD."""
        j = i + 2
        strip = text.startswith("-", j)
        j += strip
        while j < len(text) and text[j] in " \t":
            j += 1
        match = _HEREDOC_WORD.match(text, j)
        if text[j:j + 1] == SLOT or (match and text[match.end():match.end() + 1] == SLOT):
            raise ShellError("a value cannot be a here-document's delimiter")
        if match is None:
            return j
        word = match[0]
        self.pending.append(_Frame("heredoc", delimiter=re.sub(r"""['"\\]""", "", word), expands=not any(q in word for q in "'\"\\"), strip_tabs=strip))
        return match.end()

    def _heredoc_body(self, text: str, i: int, value: bool) -> int:
        frame, c = self.top, text[i]
        if c == "\n":
            self._end_of_line(frame, value)
            return i + 1
        frame.valued = frame.valued or value
        if frame.expands and c == "\\":
            _no_value_after(text, i, "a backslash")
            frame.line += text[i:i + 2]
            return i + 2
        frame.line += c
        return self._expansion(text, i) if frame.expands and c in "$`" else i + 1

    def _end_of_line(self, frame: _Frame, value: bool) -> None:
        line = frame.line.lstrip("\t") if frame.strip_tabs else frame.line
        if line == frame.delimiter:
            if value or frame.valued:
                raise ShellError(f"a value would end the here-document (a line {frame.delimiter!r} of its own)")
            self.frames.pop()
            if self.pending:
                self.frames.append(self.pending.pop(0))
            self.word = self.command = True
        frame.line, frame.valued = "", False

    def escape(self, value: object) -> str:
        """The value as it must be written where the reader stands."""
        frame = self.top
        text = plain(value)
        if frame.kind == "bare":
            if frame.tests and "[" in text and re.search(r"[$`]", text):
                raise ShellError(f"the value {brief(text)} inside [[ ... ]] could run a command through bash's arithmetic; compare with [ ... ] or test")
            return str(value) if isinstance(value, Quoted) else shlex.quote(text)
        if frame.kind == "single":
            return text.replace("'", "'\\''")
        if frame.kind == "double":
            return re.sub(r'([\\"$`])', r"\\\1", text)
        if frame.kind == "ansi":
            return text.replace("\\", "\\\\").replace("'", "\\'")
        if frame.kind == "heredoc":
            return re.sub(r"([\\$`])", r"\\\1", text) if frame.expands else text
        if frame.kind == "comment":
            return text
        if frame.kind == "arith":
            if _INTEGER.fullmatch(text.strip()):
                return text.strip()
            raise ShellError(f"the value {brief(text)} stands in $((...)), where only a whole number is safe")
        where = "inside ${...}" if frame.kind == "param" else "inside `...` (write $(...) instead)"
        raise ShellError(f"a value cannot be quoted {where}")

    def finish(self) -> None:
        frame = self.top
        if frame.kind == "heredoc" and frame.valued:
            self._end_of_line(frame, False)
        if any(f.kind not in ("bare", "comment", "heredoc") or f.nested for f in self.frames):
            raise ShellError("the command's quotes or $(...) do not close, so where its values stand cannot be told")


def _no_value_after(text: str, i: int, what: str) -> None:
    if text[i + 1:i + 2] == SLOT:
        raise ShellError(f"a value right after {what} would lose its quoting")


def resolve(text: str, values: list[object]) -> str:
    """Text that holds slots (a `{% set %}` block's, a macro's) as one plain value."""
    return _SLOT.sub(lambda m: plain(values[int(m[1])]), text)


def insert(text: str, values: list[object]) -> str:
    """`text` (a rendered shell template) with each slot `\\x00N\\x00` replaced by values[N], escaped
    for where it stands. Raises ShellError for a value that cannot stand there."""
    if SLOT not in text:
        return text
    reader = _Reader()
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != SLOT:
            j = reader.step(text, i, value=False)
            out.append(text[i:j])
            i = j
            continue
        match = _SLOT.match(text, i)
        if match is None:
            raise ShellError("the command holds a NUL byte, which no shell command can")
        escaped = reader.escape(values[int(match[1])])
        before = reader.state()
        if reader.top.kind == "heredoc":
            reader.top.valued = True
        reader.feed(escaped, value=True)
        if reader.state() != before:
            raise ShellError(f"the value {brief(plain(values[int(match[1])]))} would change how the shell reads the rest of the command")
        out.append(escaped)
        i = match.end()
    reader.finish()
    return "".join(out)
