"""A pipeline's phases: which gate another (otters' `blocked`, gates), and as `orchard watch` and
the TUI draw them while it runs: one word a phase for the run's phase line (✓ done, ✗ failed the last time, ▶ running) and one line a phase for the graph
(its action, where it leads, what it holds, how often it ran).

Kept up to date a phase at a time: a step changes one or two phases' marks and never redraws them
all, since a pipeline may hold MAX_PHASES phases and a worker that takes a run over replays every
step of it in one workflow task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from workflows.runbooks import model as m


def gates(phases: list[m.PhaseDef], guarded: Collection[str] = ()) -> dict[str, str]:
    """otters' `blocked` phase: one that does nothing but wait on its pre guards, that no `next`,
    `on_fail` or guard's `on_timeout` (`guarded`: the phases those name) leads to, is entered on
    the way to the phase its `next` names, whenever the run moves there from another phase.
    By that phase: the phase that gates it (the first written, if several would)."""
    targets = set(guarded)
    for phase in phases:
        targets.update(edge.phase for edge in (phase.next, phase.on_fail) if isinstance(edge, m.GotoPhase))
    found: dict[str, str] = {}
    for phase in phases[1:]:
        if isinstance(phase.action, m.NoAction) and phase.pre and phase.name not in targets and isinstance(phase.next, m.GotoPhase):
            found.setdefault(phase.next.phase, phase.name)
    return found


class PhaseGraph:
    def __init__(self, phases: list[m.PhaseDef]):
        self._phases = {p.name: p for p in phases}
        self._at = {p.name: i for i, p in enumerate(phases)}
        self._width = max(len(p.name) for p in phases)
        self._last: dict[str, bool] = {}
        self._ran: Counter[str] = Counter()
        self._now: str | None = None
        self._words = [p.name for p in phases]
        self._lines = [self._line(p.name) for p in phases]

    def start(self, name: str) -> None:
        """The phase runs now."""
        before, self._now = self._now, name
        self._redraw(before, name)

    def record(self, name: str, ok: bool) -> None:
        """The phase ran, and how it ended; nothing runs until the next start."""
        self._last[name] = ok
        self._ran[name] += 1
        before, self._now = self._now, None
        self._redraw(before, name)

    def words(self) -> str:
        return " ".join(self._words)

    def lines(self) -> list[str]:
        return list(self._lines)

    def _redraw(self, *names: str | None) -> None:
        for name in {n for n in names if n is not None}:
            self._words[self._at[name]] = self._word(name)
            self._lines[self._at[name]] = self._line(name)

    def _word(self, name: str) -> str:
        if name == self._now:
            return f"▶{name}"
        return f"{name}{'✓' if self._last[name] else '✗'}" if name in self._last else name

    def _line(self, name: str) -> str:
        p = self._phases[name]
        mark = "▶" if name == self._now else ("✓" if self._last[name] else "✗") if name in self._last else "·"
        leads = f"→ {m.describe_edge(p.next)}" + (f"  on_fail → {m.describe_edge(p.on_fail)}" if not isinstance(p.on_fail, m.Failed) else "")
        holds = "".join(f"  {kind} {ref.split('.')[-1]}" for kind, ref in (("lock", p.lock), ("semaphore", p.semaphore)) if ref)
        times = f"  ran {self._ran[name]}×" if self._ran[name] > 1 else ""
        return f"{mark} {name:<{self._width}}  {p.action.kind:<8}  {leads}{holds}{times}"
