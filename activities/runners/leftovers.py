"""What an earlier attempt of an activity left running (its worker died, or it was retried): its
agent's or command's processes, found by their tag, or its container. Above both runners, since a
record may name either.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from activities.runners.local import RunningRecord, kill_group, kill_tagged, tagged_processes


async def kill_orphan(record_path: Path) -> None:
    """Kill what an earlier attempt left running, as recorded at record_path, and remove its model
    relay's folder. Only processes carrying its tag are signalled (and its process group, when the
    group's leader carries the tag): the pid alone may belong to another process by now."""
    try:
        record = RunningRecord.model_validate_json(record_path.read_text())
    except (OSError, ValidationError):
        return
    if record.tag is not None:
        if record.pgid is not None and record.pgid in tagged_processes(record.tag) and record.pgid != os.getpgid(0):
            kill_group(record.pgid)
        kill_tagged(record.tag)
    if record.container:
        from activities.runners.docker.engine import remove_container  # the Docker SDK, only where containers ran

        await remove_container(record.container)
    if record.relay:  # a worker killed with -9 never reached the `finally` that removes it
        from activities.runners.docker.relay import remove_relay_dir

        remove_relay_dir(Path(record.relay))
    record_path.unlink(missing_ok=True)
