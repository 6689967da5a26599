"""`orchard history RUN`: a run's Temporal event history as JSON (for `orchard replay`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.errors import EXIT_SUCCESS, UsageError
from client.runs import find_run, target_for


async def cmd_history(args: argparse.Namespace) -> int:
    if args.out and Path(args.out).exists() and not args.force:
        raise UsageError(f"{args.out} exists; choose another file or pass --force")
    target = await target_for(args.address, args.namespace, args.config)
    history = await (await find_run(target, args.run_id)).handle.fetch_history()
    text = history.to_json()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(history.events)} events of {args.run_id} to {args.out}", file=sys.stderr)
    else:
        print(text)
    return EXIT_SUCCESS
