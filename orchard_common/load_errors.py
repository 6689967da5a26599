"""A strategy that fails to load, said in one line that names the user's file and line: the place
in their code a syntax error, an import or an exception at class definition came from, never a
line of Orchard's, the standard library's or a library's, and never a traceback."""

from __future__ import annotations

import linecache
import os
import sysconfig
from pathlib import Path

_ORCHARD = Path(__file__).resolve().parents[1]
_NOT_THE_USERS = tuple(
    f"{p}{os.sep}" for p in {
        *(_ORCHARD / package for package in ("workflows", "orchard_common", "orchard_worker", "client", "activities")),
        *(Path(sysconfig.get_paths()[kind]).resolve() for kind in ("stdlib", "platstdlib", "purelib", "platlib")),
    }
)
"""Orchard's own packages, the standard library and the installed libraries: a frame there is not
where the user's code went wrong (their strategy file is theirs wherever it is)."""

PITAYA_IMPORTS = ("pitaya", "src.orchestration", "src.shared", "src.exceptions")
"""Modules a file written for Pitaya imports from (`src.` in Pitaya's first layout)."""


def _users(filename: str, file: str | None) -> bool:
    if filename == file:
        return True
    if filename.startswith("<"):
        return False
    return not str(Path(filename).resolve()).startswith(_NOT_THE_USERS)


def users_place(e: BaseException, file: str | None = None) -> tuple[str, int] | None:
    """The file and line in the user's code the error came from (the innermost such frame; a
    syntax error's own place), or None. `file`: the strategy's file, the user's wherever it is."""
    if isinstance(e, SyntaxError) and e.filename and e.lineno:
        return e.filename, e.lineno
    place = None
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if _users(name, file):
            place = (name, tb.tb_lineno)
        tb = tb.tb_next
    return place


def at(place: tuple[str, int] | None, file: str | None) -> str:
    """` (line N)` in the strategy's own file, ` (FILE line N)` in another of the user's files."""
    if place is None:
        return ""
    name, line = place
    return f" (line {line})" if name == file else f" ({name} line {line})"


def import_failure(what: str, e: BaseException, file: str | None, what_names_file: bool = True) -> str:
    """The line for a strategy (file or module) whose import raised `e`. `file`: the strategy's
    file; `what_names_file`: `what` names it (a file spec; a module spec names a module)."""
    place = users_place(e, file)
    where = at(place, file if what_names_file else None)
    if isinstance(e, SyntaxError):
        return f"{what} failed to import: {type(e).__name__}: {e.msg}{where}"
    if isinstance(e, ImportError):
        said = e.msg.replace(f" ({e.path})", "") if e.path else e.msg
        return f"{what} failed to import: {said}{where}{_import_hint(e, place)}"
    return f"{what} failed to import: {type(e).__name__}: {e}{where}"


def _import_hint(e: ImportError, place: tuple[str, int] | None) -> str:
    """What a file written for Pitaya is told: map its import lines; a name `workflows` lacks: which it has."""
    if place:
        linecache.checkcache(place[0])
    line = linecache.getline(*place) if place else ""
    if (e.name or "").split(".")[0] == "pitaya" or any(module in line for module in PITAYA_IMPORTS[1:]):
        return ("; a strategy written for Pitaya imports from workflows instead (from workflows import Strategy, StrategyConfig, "
                "StrategyContext, InstanceResult): see 'Coming from Pitaya' in Writing a strategy")
    if e.name == "workflows":
        import workflows

        return f"; workflows has: {', '.join(workflows.__all__)}"
    return ""
