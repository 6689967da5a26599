"""`orchard runbook validate|list|show|render|items`: runbooks checked, listed, drawn and dry-run
here, without a Temporal server; `run`, `worker`, `emit` and `cron` (client/commands/runbook_cron.py) on one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from client.errors import EXIT_SUCCESS, EXIT_USAGE, UsageError
from client.preflight import find_root
from client.runbooks.describe import describe_pipeline, dry_run
from client.runbooks.problems import Problem, RunbookError, shown
from client.runbooks.registry import RunbookRegistry, load_runbooks, runbook_files
from orchard_common.config import RUNBOOKS_DIR, load_config
from workflows.runbooks import model as m
from workflows.runbooks.branches import pipeline_branch
from workflows.runbooks.templates import RenderError, pipeline_context
from workflows.sdk.durations import format_duration


def runbooks_folder(args: argparse.Namespace) -> Path:
    """`--runbooks DIR`, else `runbooks:` in orchard.yaml (relative to the repository), else
    runbooks/ at the repository's root (or here, outside a repository)."""
    if getattr(args, "runbooks", None):
        return Path(args.runbooks)
    here = Path(getattr(args, "repo", None) or ".")
    root = find_root(here) or here
    configured = load_config(getattr(args, "config", None), root).runbooks
    return root / (configured or RUNBOOKS_DIR)


def _registry(args: argparse.Namespace) -> RunbookRegistry:
    return RunbookRegistry.load_directory(runbooks_folder(args))


def _summary(runbook: m.Runbook) -> str:
    counts = [(len(runbook.commands), "command"), (len(runbook.workers), "worker"), (len(runbook.queues), "queue"),
              (len(runbook.pipelines), "pipeline"), (len(runbook.tasks), "task"), (len(runbook.guards), "guard"),
              (len(runbook.strategies), "strategy"), (len(runbook.locks), "lock"), (len(runbook.semaphores), "semaphore"),
              (len(runbook.crons), "cron"), (len(runbook.monitors), "monitor"), (len(runbook.actions), "action")]
    said = [f"{n} {word if n == 1 else ('strategies' if word == 'strategy' else word + 's')}" for n, word in counts if n]
    phases = sum(len(p.phases) for p in runbook.pipelines.values())
    return ", ".join(said) + (f" ({phases} phase{'' if phases == 1 else 's'})" if phases else "") if said else "nothing defined"


def cmd_validate(args: argparse.Namespace) -> int:
    named: list[Path] = []
    missing: list[Problem] = []
    if not args.paths and not runbooks_folder(args).is_dir():
        raise UsageError(f"no runbooks folder at {runbooks_folder(args)}: create it with NAME.toml files, or pass --runbooks DIR (or "
                         "runbooks: in orchard.yaml)")
    for given in args.paths or [runbooks_folder(args)]:
        path = Path(given)
        if path.is_dir():
            named += runbook_files(path)
        elif path.is_file():
            named.append(path)
        else:
            missing.append(Problem(shown(path), "", "no such file or folder"))
    # Named files are checked with their folders' other runbooks, which their references may name.
    folders = {p.resolve().parent for p in named}
    files = {p.resolve(): p for folder in folders for p in runbook_files(folder)} | {p.resolve(): p for p in named}
    loaded = load_runbooks(files.values())
    wanted = [shown(p) for p in named]
    problems = missing + loaded.problems_in(wanted)
    if not named and not missing:
        print(f"orchard: no runbooks (*.toml) in {', '.join(map(str, args.paths or [runbooks_folder(args)]))}", file=sys.stderr)
        return EXIT_USAGE
    from client.options import runbook_run_options  # Orchard's options as its parser defines them
    from client.runbooks.validator import option_collisions

    collisions = [w for w in option_collisions(loaded.runbooks, set(runbook_run_options()[1])) if w.file in wanted]
    for warning in sorted(loaded.warnings_in(wanted) + collisions):
        print(warning)
    if problems:
        for problem in problems:
            print(problem)
        books = len({p.file for p in problems})
        print(f"orchard: {len(problems)} problem{'s' * (len(problems) != 1)} in {books} runbook{'s' * (books != 1)}", file=sys.stderr)
        return EXIT_USAGE
    for path in named:
        raw_name = Path(path).stem
        print(f"{shown(path)}: valid: {_summary(loaded.runbooks[raw_name])}")
    return EXIT_SUCCESS


def cmd_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if not registry.runbooks:
        print(f"orchard: no runbooks (*.toml) in {runbooks_folder(args)}", file=sys.stderr)
    if args.output == "json":
        for name, book in sorted(registry.runbooks.items()):
            print(json.dumps({
                "runbook": name, "file": shown(book.path),
                "commands": {c.name: c.args.usage() for c in book.commands.values()},
                "pipelines": {p.name: [ph.name for ph in p.phases] for p in book.pipelines.values()},
                "strategies": {s.name: [a.name for a in s.attempts] for s in book.strategies.values()},
                "workers": {w.name: {"queue": w.queue, "handler": w.handler} for w in book.workers.values()},
                "queues": sorted(book.queues),
                **({"crons": {c.name: {"interval": c.interval, "monitors": [r.split(".")[-1] for r in c.monitors]} for c in book.crons.values()},
                    "monitors": sorted(book.monitors), "actions": sorted(book.actions)} if book.crons or book.monitors or book.actions else {}),
            }))
        return EXIT_SUCCESS
    for name, book in sorted(registry.runbooks.items()):
        print(f"{name}  ({shown(book.path)})")
        for c in book.commands.values():
            runs = f"  -> pipeline {c.action.pipeline}" if isinstance(c.action, m.RunPipeline) else "  -> shell"
            print(f"  command   {c.name} {c.args.usage()}".rstrip() + runs)
        for p in book.pipelines.values():
            print(f"  pipeline  {name}.{p.name}: {' -> '.join(ph.name for ph in p.phases)}")
        for s in book.strategies.values():
            print(f"  strategy  {s.name}: {' | '.join(a.name for a in s.attempts)}")
        for w in book.workers.values():
            print(f"  worker    {w.name}: queue {w.queue} -> {w.handler} (concurrency {w.concurrency})")
        for q in book.queues.values():
            print(f"  queue     {q.name}" + (f": $ {q.source.source} ({q.format})" if q.source else ": items added by commands"))
        for cron in book.crons.values():
            does = [r.split(".")[-1] for r in cron.monitors] + (["its run"] if cron.command is not None else [])
            print(f"  cron      {cron.name}: every {format_duration(cron.interval)} -> {', '.join(does)}" + ("" if cron.enabled else " (enabled = false)"))
        for monitor in book.monitors.values():
            handles = " -> ".join(step.name + (f":{step.times}" if step.times else "") for step in monitor.response) if monitor.response else "run"
            print(f"  monitor   {monitor.name}: $ {monitor.source.source} -> {handles}")
    return EXIT_SUCCESS


def _pipeline(registry: RunbookRegistry, name: str) -> m.PipelineDef:
    """`runbook.pipeline`, `runbook.pipeline.NAME`, or `runbook` alone when it has one pipeline (or one of its name)."""
    if name in registry.runbooks:  # a runbook's name may hold dots (build.minimal)
        pipelines = registry.runbooks[name].pipelines
        if name in pipelines or len(pipelines) == 1:
            return pipelines.get(name) or next(iter(pipelines.values()))
        if not pipelines:
            raise UsageError(f"runbook {name} has no pipelines")
        raise UsageError(f"runbook {name} has pipelines {', '.join(pipelines)}: name one as {name}.PIPELINE")
    try:
        return registry.resolve(name, "pipeline")
    except KeyError as e:
        raise UsageError(e.args[0]) from None


def cmd_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    for line in describe_pipeline(registry, _pipeline(registry, args.name)):
        print(line)
    return EXIT_SUCCESS


def input_value(text: str) -> Any:
    """An input given on the command line (`-i bug='{"id": 7}'`, a command's word): a JSON object or
    list is taken as such, anything else as text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, (dict, list)) else text


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`-i key=value`, each value as input_value reads it."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-i {pair!r}: write -i NAME=VALUE")
        inputs[key] = input_value(value)
    return inputs


def cmd_render(args: argparse.Namespace) -> int:
    registry = _registry(args)
    pipeline = _pipeline(registry, args.name)
    given = parse_inputs(args.inputs)
    unknown = sorted(set(given) - set(pipeline.inputs))
    handled = any(w.handler == pipeline.ref for book in registry.runbooks.values() for w in book.workers.values())
    if unknown and not handled:
        raise UsageError(f"{', '.join(unknown)}: not an input of pipeline {pipeline.name} (inputs: {', '.join(pipeline.inputs) or 'none'})")
    inputs = {k: v for k, v in given.items() if k in pipeline.inputs}
    fields = {k: v for k, v in given.items() if k not in pipeline.inputs}  # a worker's pipeline: the rest are the item's fields ({id})
    try:
        lines = dry_run(registry, pipeline, inputs, fields)
    except RenderError as e:
        raise UsageError(f"{e}; give it with -i NAME=VALUE" if "needs" in str(e) else str(e)) from None
    for line in lines:
        print(line)
    return EXIT_SUCCESS


async def cmd_items(args: argparse.Namespace) -> int:
    from activities.runbooks.sources import SourceError, queue_items  # runs processes: only this command needs it

    registry = _registry(args)
    try:
        queue: m.QueueDef = registry.resolve(args.name, "queue")
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    book = registry.runbooks[m.runbook_of(queue.ref)]
    try:
        items = await queue_items(queue, book.config, book.functions, find_root(Path(book.path).parent) or Path(book.path).resolve().parent.parent)
    except SourceError as e:
        print(f"orchard: {e}", file=sys.stderr)
        return EXIT_USAGE
    for item in items:
        print(json.dumps(item))
    print(f"{len(items)} item{'s' * (len(items) != 1)} from queue {queue.name}", file=sys.stderr)
    return EXIT_SUCCESS


def _target(registry: RunbookRegistry, name: str) -> m.CommandDef | m.PipelineDef:
    """What NAME runs: COMMAND (or RUNBOOK.command.COMMAND), or the pipeline RUNBOOK.PIPELINE."""
    parts = name.split(".")
    if len(parts) == 1:
        found = [book.commands[name] for book in registry.runbooks.values() if name in book.commands]
        if len(found) > 1:
            named = ", ".join(sorted(f"{m.runbook_of(c.ref)}.command.{name}" for c in found))
            raise UsageError(f"{len(found)} runbooks have a command {name}: name one as RUNBOOK.command.{name} ({named})")
        if not found:
            known = sorted(f"{m.runbook_of(c.ref)}.{c.name}" for book in registry.runbooks.values() for c in book.commands.values())
            raise UsageError(f"no command {name!r}; commands: {', '.join(known) or 'none'} (or name a pipeline as RUNBOOK.PIPELINE)")
        return found[0]
    if len(parts) >= 3 and parts[-2] == "command":
        try:
            return registry.resolve(name)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
    return _pipeline(registry, name)


def split_words(words: list[str], options: dict[str, bool], command: dict[str, bool] | None, name: str = "") -> tuple[list[str], list[str]]:
    """What follows NAME, as (Orchard's options, the command's words). A pipeline (`command` None)
    takes no words: every option after it is Orchard's, and anything else is refused. After a
    command, an option its args define is the command's, unless a `--` follows (then Orchard's when
    Orchard has it); any other option Orchard has is Orchard's; everything after the `--` is the command's."""
    cut = words.index("--") if "--" in words else len(words)
    head, tail = (words[:cut], words[cut + 1:]) if command is not None else ([w for w in words if w != "--"], [])
    ours: list[str] = []
    theirs: list[str] = []
    i = 0
    while i < len(head):
        word = head[i]
        flag, glued = word.partition("=")[0], "=" in word
        if not word.startswith("--") and len(word) > 2 and word[:2] in options:
            flag, glued = word[:2], True  # -iNAME=VALUE
        commands = command is not None and flag in command
        if flag in options and not (commands and cut == len(words)):
            take = 2 if options[flag] and not glued and i + 1 < len(head) else 1
            ours += [f"{flag}={head[i + 1]}"] if take == 2 and flag.startswith("--") else head[i:i + take]
            i += take
            continue
        if command is None:
            raise UsageError(f"{name} is a pipeline: give its inputs as -i NAME=VALUE, not {word!r}")
        take = 2 if commands and command[flag] and not glued and i + 1 < len(head) else 1
        theirs += head[i:i + take]
        i += take
    return ours, theirs + tail


def _command_inputs(command: m.CommandDef, words: list[str]) -> tuple[m.Ref, dict[str, Any]]:
    """The pipeline a command runs, and its inputs from the command's words, by its args (then its
    defaults); a word that is a JSON object or list is one (`bugfix '{"id": 1, "title": "Crash"}'`),
    as with -i."""
    if not isinstance(command.action, m.RunPipeline):
        raise UsageError(f"command {command.name} runs a shell command, not a pipeline; `orchard runbook render` shows it, run it yourself")
    try:
        values = command.args.parse(words)
    except ValueError as e:
        raise UsageError(f"{command.name}: {e}") from None
    read = {k: [input_value(w) for w in v] if isinstance(v, list) else input_value(v) if isinstance(v, str) else v for k, v in values.items()}
    return command.action.pipeline, {**command.defaults, **read}


def _read_options_after_name(args: argparse.Namespace) -> tuple[RunbookRegistry, m.CommandDef | m.PipelineDef, list[str]]:
    """Orchard's options given after NAME, read into `args` as if given before it: the registry,
    NAME's target and the command's words. Which options are the command's depends on the runbooks,
    whose folder may be one of those options: read again if the split moved it."""
    from client.options import runbook_run_options

    parser, options = runbook_run_options()
    located = parser.parse_args(split_words(args.words, options, {})[0], namespace=argparse.Namespace(**vars(args)))
    for _ in range(2):
        registry = _registry(located)
        target = _target(registry, args.name)
        ours, theirs = split_words(args.words, options, target.args.flags() if isinstance(target, m.CommandDef) else None, args.name)
        given = parser.parse_args(ours, namespace=argparse.Namespace(**vars(args)))
        if runbooks_folder(given) == runbooks_folder(located):
            vars(args).update(vars(given))
            return registry, target, theirs
        located = given
    raise UsageError("--runbooks, --repo or --config after NAME is both the command's and Orchard's: give Orchard's before NAME")


async def cmd_runbook_run(args: argparse.Namespace) -> int:
    from client.commands.run import cmd_run  # the run's whole machinery: only this command needs it

    registry, target, words = _read_options_after_name(args)
    given = parse_inputs(args.inputs)
    if isinstance(target, m.CommandDef):
        reference, from_words = _command_inputs(target, words)
        inputs = {**from_words, **given}
        pipeline: m.PipelineDef = registry.resolve(reference)
    else:
        pipeline, inputs = target, given
    unknown = sorted(set(inputs) - set(pipeline.inputs))
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: not an input of pipeline {pipeline.name} (inputs: {', '.join(pipeline.inputs) or 'none'})")
    home = m.runbook_of(pipeline.ref)
    try:
        values = pipeline_context(pipeline, inputs, registry.runbooks[home].config)
    except RenderError as e:
        raise UsageError(f"{e}; give it" + (" with -i NAME=VALUE" if "." in args.name else " as the command's args say")) from None
    try:
        pipeline_branch(pipeline.defaults, values, pipeline.name, "<run_id>")
    except ValueError as e:
        raise UsageError(str(e)) from None
    bundle = registry.bundle(pipeline.ref).model_dump(mode="json")
    args.strategy, args.prompt, args.prompt_file = "runbook", f"{home}.{pipeline.name} " + json.dumps(inputs), None
    args.params = [f"pipeline={pipeline.ref}", f"runbooks={json.dumps(bundle)}", f"inputs={json.dumps(inputs)}"]
    return await cmd_run(args)


def _worker_id(args: argparse.Namespace, registry: RunbookRegistry) -> tuple[m.ConsumerDef, str]:
    """The worker NAME names (`RUNBOOK.WORKER`) and its fixed run id on this repository (or its remote, with --remote)."""
    from client.repository import run_repository
    from workflows.runbooks.consumer import QueueConsumerStrategy

    try:
        worker: m.ConsumerDef = registry.resolve(args.name, "worker")
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    repo = run_repository(getattr(args, "repo", None) or ".", getattr(args, "remote", None)).repo
    return worker, QueueConsumerStrategy.LAUNCH.run_id({"worker": worker.ref}, repo) or ""


async def cmd_worker(args: argparse.Namespace) -> int:
    import getpass

    from client.commands.run import cmd_run
    from client.runs import find_run, target_for
    from client.updates import send_update
    from workflows.sdk.models import RunProgress, SteerRequest
    from workflows.sdk.trail import ItemRecord

    registry = _registry(args)
    worker, run_id = _worker_id(args, registry)
    if args.worker_action == "start":
        args.strategy, args.prompt, args.prompt_file = "runbook-worker", f"worker {worker.ref}", None
        args.params = [f"worker={worker.ref}", f"runbooks={json.dumps(registry.bundle(worker.ref).model_dump(mode='json'))}"]
        args.detach = True
        return await cmd_run(args)
    args.run_id = run_id
    if args.worker_action == "stop":
        said = await send_update(args, "steer", SteerRequest(action="stop", by=getpass.getuser()), str, "worker stop refused", "stop")
        print(f"worker {worker.name} ({run_id}): {said}")
        return EXIT_SUCCESS
    target = await target_for(getattr(args, "address", None), getattr(args, "namespace", None), args.config)
    try:
        run = await find_run(target, run_id)
    except UsageError:
        print(f"worker {worker.name} has not run on this repository (start it: orchard runbook worker start {args.name})")
        return EXIT_SUCCESS
    status = run.desc.status.name.lower() if run.desc.status else "unknown"
    progress = await run.handle.query("progress", result_type=RunProgress) if run.running else None
    print(f"worker {worker.name} ({run_id}): {status}" + (f", {progress.phase}" if progress else ""))
    rows = [row for row in progress.trail if isinstance(row, ItemRecord)] if progress else []
    for row in rows:
        error = f": {row.error}" if row.error else ""
        print(f"  {row.id:<16} {row.status:<8} attempts {row.attempts}{error}")
    dead = [row for row in rows if row.status == "dead"]
    if dead:
        print(f"dead letters: {', '.join(row.id for row in dead)}")
    return EXIT_SUCCESS


async def cmd_emit(args: argparse.Namespace) -> int:
    """`orchard runbook emit EVENT`: wake the runs on this repository whose guards or workers wait for it."""
    from activities.coordination.events import signal_waiting
    from client.repository import open_repo
    from client.runs import target_for
    from workflows.runbooks.events import check_pattern

    try:
        check_pattern(args.event)
    except ValueError as e:
        raise UsageError(str(e).replace("event pattern", "event")) from None
    if "*" in args.event or "{" in args.event:
        raise UsageError(f"event {args.event!r}: an event is plain words (patterns with * or {{variables}} are what runs wait for)")
    target = await target_for(args.address, args.namespace, args.config)
    told = await signal_waiting(target.client, str(open_repo(args.repo)), [args.event])
    print(f"{args.event}: {told} waiting run{'s' * (told != 1)} told")
    return EXIT_SUCCESS


async def cmd_runbook(args: argparse.Namespace) -> int:
    try:
        if args.runbook_action == "emit":
            return await cmd_emit(args)
        if args.runbook_action == "worker":
            return await cmd_worker(args)
        if args.runbook_action == "cron":
            from client.commands.runbook_cron import cmd_cron  # Temporal's schedules: only this command needs them

            return await cmd_cron(args, _registry(args))
        if args.runbook_action == "run":
            return await cmd_runbook_run(args)
        if args.runbook_action == "items":
            return await cmd_items(args)
        return {"validate": cmd_validate, "list": cmd_list, "show": cmd_show, "render": cmd_render}[args.runbook_action](args)
    except RunbookError as e:
        if len(e.problems) == 1:  # bad input is one line
            print(f"orchard: {e.problems[0]}", file=sys.stderr)
            return EXIT_USAGE
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"orchard: the runbooks in {runbooks_folder(args)} have {len(e.problems)} problem{'s' * (len(e.problems) != 1)}; fix them "
              "(`orchard runbook validate` lists them)", file=sys.stderr)
        return EXIT_USAGE
