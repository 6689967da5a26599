#!/usr/bin/env python3
"""The evaluation of selection methods on the shipped task set with the simulated agents.

    python bench/bench_eval.py [--n 5] [--select score,tests,tournament,tests+tournament] [--solve 0.4]
                               [--scorer-error 0.25] [--judge-error 0.15] [--writer-error 0.2] [--seed 0] [--task NAME ...] [--dir DIR] [--markdown]

Runs `orchard eval evals/tasks --strategy best-of-n` with evals/simulated_agent.py as every agent
(candidates, scorers, judges, test writers), in an ORCHARD_HOME of its own with the embedded server
on free ports, and prints the evaluation's table, what the simulated agents were told to do (the
pass@1 and pass@n they should give on average), and the wall time. It measures Orchard's
machinery (the runs, the methods' bookkeeping, the hidden checks), not a model: the simulated
agents know each task's reference fix. The same command with real agents measures real models
(docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from client.evals.report import EvalReport, MethodTotal  # noqa: E402
from client.evals.table import print_report  # noqa: E402

ORCHARD = Path(sys.executable).with_name("orchard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_dev_config(home: Path) -> None:
    """Orchard's own embedded-server settings, on free ports (never a user's server)."""
    home.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "temporal-dev.yml").read_text()
    (home / "temporal-dev.yml").write_text(text.replace("127.0.0.1:7233", f"127.0.0.1:{free_port()}").replace("ui_port: 8233", f"ui_port: {free_port()}"))


def orchard(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(ORCHARD)] if ORCHARD.is_file() else [sys.executable, "-m", "client.cli"]
    return subprocess.run([*argv, *args], env=env, cwd=cwd, capture_output=True, text=True)


def markdown(report: EvalReport) -> str:
    """The report's two tables as docs/evaluation.md shows them."""
    def mark(ok: bool) -> str:
        return "✓" if ok else "✗"

    lines = [f"| task | pass@1 | pass@n | {' | '.join(report.methods)} |", "|---|" + "---|" * (2 + len(report.methods))]
    for t in report.tasks:
        rows = {r.method: r for r in t.methods}
        picks = [f"{mark(rows[m].selected)} #{rows[m].picked}" if rows[m].picked is not None else "none" for m in report.methods]
        passing = f"{sum(c.passed for c in t.candidates)}/{len(t.candidates)}"
        lines.append(f"| {t.task} | {mark(t.pass_at_1)} | {mark(t.pass_at_n)} {passing} | {' | '.join(picks)} |")
    lines += ["", "| method | pass@1 | pass@n | selected | selected / pass@n | cost |", "|---|---|---|---|---|---|"]
    for m in report.totals:
        def share(count: int, m: MethodTotal = m) -> str:
            return f"{count}/{m.tasks} ({MethodTotal.rate(count, m.tasks):.0%})"
        won = f"{MethodTotal.rate(m.selected, m.pass_at_n):.0%}" if m.pass_at_n else "–"
        lines.append(f"| {m.method} | {share(m.pass_at_1)} | {share(m.pass_at_n)} | {share(m.selected)} | {won} | ${m.cost_usd:,.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=Path, default=ROOT / "evals" / "tasks")
    parser.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--select", default="score,tests,tournament,tests+tournament")
    parser.add_argument("--solve", type=float, default=0.4)
    parser.add_argument("--scorer-error", type=float, default=0.25)
    parser.add_argument("--judge-error", type=float, default=0.15)
    parser.add_argument("--writer-error", type=float, default=0.2)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--dir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown (as docs/evaluation.md shows them)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-eval-", dir=args.dir))
    home = scratch / "home"
    write_dev_config(home)
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("TEMPORAL_")}, "ORCHARD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    agent = (f"{sys.executable} {ROOT / 'evals' / 'simulated_agent.py'} {args.tasks.resolve()} --solve {args.solve} --scorer-error {args.scorer_error} "
             f"--judge-error {args.judge_error} --writer-error {args.writer_error} --seed {args.seed}")
    started = time.monotonic()
    try:
        ran = orchard("eval", str(args.tasks.resolve()), *[a for t in args.task for a in ("--task", t)], "--strategy", "best-of-n",
                      "-S", f"n={args.n}", "-S", f"select={args.select}", "--plugin", "command",
                      "--runner", "local",  # the simulated agents read the answers (docs/evaluation.md)
                      "--agent-command", agent, "--output", "json", env=env, cwd=scratch)
        wall = time.monotonic() - started
        if ran.returncode not in (0, 3):
            print(ran.stderr, file=sys.stderr)
            return ran.returncode
    finally:
        orchard("server", "stop", env=env, cwd=scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    report = EvalReport.model_validate_json(ran.stdout)
    if args.markdown:
        print(markdown(report) + "\n")
    else:
        console = Console(width=160, record=True, file=io.StringIO())
        print_report(report, console)
        print(console.export_text())
    print(f"simulated agents: a candidate makes the reference fix with p={args.solve} (expected pass@1 {args.solve:.0%}, pass@{args.n} "
          f"{1 - (1 - args.solve) ** args.n:.0%}); scorer error {args.scorer_error}, judge error {args.judge_error}, test writer error "
          f"{args.writer_error}; seed {args.seed}")
    print(f"{len(report.tasks)} tasks, n={args.n}, in {wall:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
