"""The settings best-of-n's selection reads: the candidates' number and verification, the scorer's,
and the methods' own (`select`, `compare`, test writers, judges, synthesis, `ensemble`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from workflows.sdk.context import RUN_INSTANCES_LIMIT
from workflows.sdk.strategy import StrategyConfig
from workflows.strategies.selection.spec import judge_calls, parse_compare, parse_select
from workflows.strategies.variants.config import Variants


@dataclass
class SelectionConfig(StrategyConfig):
    n: int = 5
    scorer_prompt: str = ""
    scorer_model: str = ""
    scorer_plugin: str = ""
    scorer_agent_command: str = ""
    score_scale: int = 10
    score_attempts: int = 2
    verify: str = ""
    verify_timeout: float = 1800.0
    tie_break: Literal["first", "random"] = "first"
    select: str = "score"
    """score, tests, tournament, or tests,tournament (tests, then a tournament among those tied at the top)."""
    compare: str = ""
    """Several selection specs on the same candidates (`score,tests,tournament,tests+tournament`): the first one's pick wins."""
    test_writers: int = 1
    test_command: str = "python -m pytest -q -p no:cacheprovider"
    """How the generated tests run (pytest: each test's outcome is read from its `-rA` summary)."""
    test_writer_model: str = ""
    test_writer_plugin: str = ""
    test_writer_agent_command: str = ""
    bracket: Literal["auto", "single", "round-robin"] = "auto"
    """auto: a round robin for up to 6 candidates, single elimination past that."""
    judge_model: str = ""
    judge_plugin: str = ""
    judge_agent_command: str = ""
    judge_prompt: str = ""
    judge_attempts: int = 2
    judge_diff_limit: int = 20_000
    """Characters of each candidate's diff a judge is shown (the rest is cut, and it is told so)."""
    max_judge_calls: int = 0
    """Refuse a run whose tournament may ask for more judge calls than this (0: only the run's own limit)."""
    synthesize: bool = False
    synthesize_from: int = 2
    """How many other top candidates the synthesizer is shown besides the winner."""
    synthesizer_model: str = ""
    synthesizer_plugin: str = ""
    synthesizer_agent_command: str = ""
    ensemble: Variants = field(default_factory=list)
    """Agent settings the candidates cycle through (`-S ensemble=@agents.yaml`, the variants format);
    without `n`, one candidate each."""

    def specs(self) -> list[tuple[str, tuple[str, ...]]]:
        """The selection specs this run applies: (as given, its methods), the winner's first."""
        return parse_compare(self.compare) if self.compare else [(self.select, parse_select(self.select))]

    def judge_calls(self, candidates: int | None = None) -> int:
        """The most judge calls a run of `candidates` may make (each judging may be asked
        `judge_attempts` times); without `candidates`, the most any run of these settings may."""
        if not any("tournament" in methods for _, methods in self.specs()):
            return 0
        return judge_calls(candidates or max(self.n, len(self.ensemble)), self.bracket) * self.judge_attempts

    def check_selection(self) -> None:
        """The selection settings together (ValueError): misspelt specs, the judge calls' bound, the run's instance limit."""
        specs = self.specs()  # a misspelt select or compare is refused here, before the run starts
        if min(self.test_writers, self.judge_attempts, self.synthesize_from, self.judge_diff_limit) < 1:
            raise ValueError("test_writers, judge_attempts, synthesize_from and judge_diff_limit must be at least 1")
        judging = self.judge_calls()
        if self.max_judge_calls and judging > self.max_judge_calls:
            raise ValueError(f"the tournament among {max(self.n, len(self.ensemble))} candidates may ask for {judging:,} judge calls "
                             f"(bracket={self.bracket}, judge_attempts={self.judge_attempts}), past max_judge_calls={self.max_judge_calls:,}: "
                             "use bracket=single, fewer candidates, or raise max_judge_calls")
        writers = self.test_writers if any("tests" in methods for _, methods in specs) else 0
        asked = max(self.n, len(self.ensemble)) * (1 + max(self.score_attempts, 1)) + judging + writers + int(self.synthesize)
        if asked > RUN_INSTANCES_LIMIT:
            raise ValueError(f"this best-of-n may ask for {asked:,} instances (candidates, scorers, {judging:,} judge calls, {writers} test writers), "
                             f"past the {RUN_INSTANCES_LIMIT:,} one run takes")


