"""Transcripts are capped: an agent printing without end keeps the head and the tail of its output,
and the file says what was cut between them."""

from __future__ import annotations

import sys

from activities.agents.base import AgentCommand
from activities.runners.local import run_process
from activities.runners.transcript import TRANSCRIPT_HEAD_BYTES, TRANSCRIPT_TAIL_BYTES, Transcript

LOUD_AGENT = "import sys\nfor i in range(100_000): sys.stdout.write(f'line {i:06d} ' + 'x' * 88 + '\\n')"  # 10 MB


async def test_an_agent_printing_10_mb_leaves_a_transcript_of_its_head_and_tail(tmp_path):
    transcript = tmp_path / "transcript.log"
    lines = 0

    def count(_: str) -> None:
        nonlocal lines
        lines += 1

    outcome = await run_process(
        AgentCommand(argv=[sys.executable, "-c", LOUD_AGENT]), cwd=tmp_path, timeout=60, on_line=count,
        transcript=transcript, record_path=tmp_path / "running.json",
    )
    assert outcome.exit_code == 0 and lines == 100_000  # the agent's whole output was still read
    text = transcript.read_text()
    assert len(text) <= TRANSCRIPT_HEAD_BYTES + TRANSCRIPT_TAIL_BYTES + 300
    assert text.startswith("line 000000 ") and text.endswith(f"line 099999 {'x' * 88}\n")
    (cut,) = [line for line in text.splitlines() if line.startswith("[orchard: ")]
    assert "lines (" in cut and f"keeps the first {TRANSCRIPT_HEAD_BYTES:,} and the last {TRANSCRIPT_TAIL_BYTES:,} bytes" in cut


def test_output_within_the_cap_is_kept_whole_and_a_retry_appends(tmp_path):
    path = tmp_path / "transcript.log"
    for attempt in (1, 2):
        with Transcript(path, head_bytes=20, tail_bytes=20) as out:
            out.write(f"attempt {attempt}")
    assert path.read_text() == "attempt 1\nattempt 2\n"
    with Transcript(path, head_bytes=10, tail_bytes=10) as out:
        for i in range(100):
            out.write(f"{i:03d}")
    tail = path.read_text().split("attempt 2\n", 1)[1]
    assert tail.startswith("000\n001\n[orchard: 96 lines (384 bytes) cut here") and tail.endswith("098\n099\n")
