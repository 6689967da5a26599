"""`orchard loop stop|nudge|extend RUN ...`: steer a running loop (Temporal updates).

stop: finish after the iteration that runs now ("stopped by a person"); nudge TEXT: added to the
next iteration's prompt; extend N: N more iterations than its strategy allows. The loop's
validator refuses what it cannot take (a second stop, an empty nudge, past the maximum).
"""

from __future__ import annotations

import argparse
import getpass

from client.errors import EXIT_SUCCESS
from client.updates import send_update
from workflows.sdk.models import SteerRequest


async def cmd_loop(args: argparse.Namespace) -> int:
    request = SteerRequest(action=args.loop_action, text=getattr(args, "text", "") or "", count=getattr(args, "count", 0) or 0, by=getpass.getuser())
    said: str = await send_update(args, "steer", request, str, f"loop {args.loop_action} refused", "steering")
    print(f"run {args.run_id}: {said}")
    return EXIT_SUCCESS
