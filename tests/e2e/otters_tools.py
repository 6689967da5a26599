"""Stand-ins for otters' own tools, for the end-to-end test of runbooks written in otters' idioms:
`wok` (its issue tracker), `oj` (its CLI: queues, events, pipelines) and `claude --print` (the
agent). The test puts `wok`, `oj` and `claude` on PATH as `python otters_tools.py TOOL ARGS...`.

State lives in $OTTERS_STATE: wok.json (the issues: id, title, type, status, labels, priority),
queue-NAME.json (an oj queue's items) and calls.log, one line per call (`wok start 1`), which
the test reads to see what the runbooks asked of the tools.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ.get("OTTERS_STATE", "."))


def _load(name: str) -> list[dict]:
    path = STATE / name
    return json.loads(path.read_text()) if path.exists() else []


def _save(name: str, items: list[dict]) -> None:
    (STATE / name).write_text(json.dumps(items, indent=1))


def _flag(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
    return None


def wok(args: list[str]) -> int:
    issues = _load("wok.json")
    verb, rest = args[0], args[1:]
    if verb in ("list", "ready"):
        label, statuses = _flag(rest, "-l"), _flag(rest, "-s")
        found = [i for i in issues if (label is None or label in i.get("labels", [])) and (statuses is None or i["status"] in statuses.split(","))]
        if verb == "ready":
            found = [i for i in issues if i.get("type") == "issue" and i["status"] == "todo"]
        if "--count" in rest:
            print(len(found))
        elif "--json" in rest:
            print(json.dumps(found))
        else:
            for i in found:
                print(f"{i['id']} {i['title']}")
        return 0
    if verb == "new":
        issue = {"id": f"f-{len(issues) + 1}", "type": rest[0], "title": rest[1], "status": "todo", "labels": [_flag(rest, "-l") or ""]}
        _save("wok.json", [*issues, issue])
        print(issue["id"])
        return 0
    if verb in ("start", "done"):
        known = [i for i in issues if str(i["id"]) == rest[0]]
        if not known:
            print(f"wok: no issue {rest[0]}", file=sys.stderr)
            return 1
        known[0]["status"] = "in_progress" if verb == "start" else "done"
        _save("wok.json", issues)
        return 0
    if verb == "show":
        print(json.dumps(next((i for i in issues if str(i["id"]) == rest[0]), {})))
        return 0
    return 0  # note, label: only logged


def oj(args: list[str]) -> int:
    if args[:2] == ["queue", "list"]:
        print(json.dumps(_load(f"queue-{args[2]}.json")))
    elif args[:1] == ["queue"] and args[1] in ("complete", "remove"):
        _save(f"queue-{args[2]}.json", [i for i in _load(f"queue-{args[2]}.json") if str(i["id"]) != args[3]])
    elif args[:2] == ["pipeline", "show"]:
        print("done")
    elif args[:2] == ["pipeline", "has-session"]:
        return 1
    return 0  # emit, worker wake, queue add/requeue, pipeline transition: only logged


def claude(args: list[str]) -> int:
    """An agent: reads its prompt on stdin, does what it asks in the working directory, commits."""
    prompt = sys.stdin.read()

    def commit(path: str, text: str, message: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(["git", "commit", "-qm", message], check=True)

    if found := re.search(r"Fix the bug described in issue ([\w-]+):\s*(.*)", prompt):
        commit(f"fixes/{found[1]}.txt", f"fixed {found[1]}: {found[2]}\n", f"Fix bug {found[1]}")
    elif found := re.search(r'Plan the feature "?([\w-]+)"?', prompt):
        commit(f"plans/{found[1]}.md", f"epic: {found[1]}\n{prompt}", f"Plan {found[1]}")
    elif found := re.search(r"Execute the plan in plans/([\w-]+)\.md", prompt):
        listed = subprocess.run(["wok", "list", "-l", f"plan:{found[1]}", "--json"], check=True, capture_output=True, text=True).stdout
        for issue in json.loads(listed):
            subprocess.run(["wok", "done", issue["id"]], check=True)
        commit(f"src/{found[1]}.txt", f"built {found[1]}\n", f"Build {found[1]}")
    elif found := re.search(r"Issue ID: (\S+)\nTitle: (.*)", prompt):
        commit(f"issues/{found[1]}.txt", f"resolved: {found[2]}\n", f"Resolve {found[1]}")
        subprocess.run(["wok", "done", found[1]], check=True)
    else:
        print(f"claude (stub): nothing to do for: {prompt[:80]!r}", file=sys.stderr)
        return 1
    print("done")
    return 0


if __name__ == "__main__":
    tool, *arguments = sys.argv[1:]
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "calls.log").open("a") as log:
        log.write(" ".join([tool, *arguments]) + "\n")
    sys.exit({"wok": wok, "oj": oj, "claude": claude}[tool](arguments))
