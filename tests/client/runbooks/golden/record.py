"""Records what the runbook loader makes of every runbook the tests load, as the golden cases that
test_golden.py compares the current loader with.

    PYTHONPATH=. python -m pytest -n 0 -q -p tests.client.runbooks.golden.record tests/client/runbooks tests/workflows/runbooks
    PYTHONPATH=. python -m tests.client.runbooks.golden.record      # the examples, fixtures, messages and e2e runbooks

As a pytest plugin it wraps `load_runbooks` and keeps each set of files it is given (every file
of their folder, so prompt files come along) with the result; as a script it adds the folders of
runbooks in the repository and the runbooks the end-to-end tests write (their f-strings, each
`{...}` filled with a path). A case is kept once (by its files); each is replayed in a fresh folder.

cases.json was recorded with the loader that the one runbook schema replaced (commit df58bab):
running this again records the code of the day for any case not there yet, so do it on purpose.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[4]
CASES = Path(__file__).with_name("cases.json")
MAX_BYTES = 200_000
"""Bigger sets (the pipelines of thousands of phases) are the size tests' own."""


def folder_files(folder: Path) -> dict[str, str] | None:
    """Every regular file under `folder`, by relative path (a file that is not UTF-8 text as
    `base64:` and its bytes); None when one is a link."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            return None
        if path.is_file() and "__pycache__" not in path.parts:
            data = path.read_bytes()
            try:
                found[path.relative_to(folder).as_posix()] = data.decode("utf-8")
            except UnicodeDecodeError:
                found[path.relative_to(folder).as_posix()] = "base64:" + base64.b64encode(data).decode()
    return found


def outcome(folder: Path, loaded: Any) -> dict[str, Any]:
    """What the loader made of `folder`'s runbooks, with the folder's path written <DIR>."""
    from client.runbooks.problems import shown

    def clean(text: str) -> str:
        for prefix in sorted({str(folder.resolve()), str(folder), shown(folder)}, key=len, reverse=True):
            text = text.replace(prefix, "<DIR>")
        return text

    result: dict[str, Any] = {"problems": [clean(str(p)) for p in loaded.problems], "warnings": [clean(str(p)) for p in loaded.warnings]}
    if not loaded.problems:
        result["runbooks"] = json.loads(clean(json.dumps({name: book.model_dump(mode="json") for name, book in sorted(loaded.runbooks.items())})))
    return result


def add_case(cases: dict[str, Any], source: str, files: dict[str, str]) -> None:
    """Keep `files` (once) with what the loader makes of them in a fresh folder, as test_golden.py replays them."""
    import tempfile

    if sum(map(len, files.values())) > MAX_BYTES or not any(name.endswith(".toml") for name in files):
        return
    key = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    if key not in cases:
        with tempfile.TemporaryDirectory() as tmp:
            cases[key] = {"source": source, "files": files, "expected": replay_case({"files": files}, Path(tmp) / "runbooks")}


def load_cases() -> dict[str, Any]:
    return json.loads(CASES.read_text()) if CASES.exists() else {}


def save_cases(cases: dict[str, Any]) -> None:
    CASES.write_text(json.dumps(dict(sorted(cases.items(), key=lambda kv: (kv[1]["source"], kv[0]))), indent=1, sort_keys=False) + "\n")


def replay_case(case: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Load a case's files from `folder` (made here) and say what the loader makes of them."""
    from client.runbooks.registry import load_runbooks, runbook_files

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in case["files"].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(base64.b64decode(text[7:]) if text.startswith("base64:") else text.encode("utf-8"))
    return outcome(folder, load_runbooks(runbook_files(folder)))


# -- as a pytest plugin -----------------------------------------------------------------------

_seen: list[tuple[str, dict[str, str]]] = []


def pytest_configure(config: Any) -> None:
    import client.runbooks.registry as registry

    original = registry.load_runbooks

    def recording(files: Any) -> Any:
        files = list(files)
        loaded = original(files)
        folders = {Path(f).parent for f in files}
        test = __import__("os").environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        if len(folders) == 1 and files == registry.runbook_files(next(iter(folders))):
            contents = folder_files(next(iter(folders)))
            if contents is not None:
                _seen.append((test, contents))
        return loaded

    registry.load_runbooks = recording


def pytest_unconfigure(config: Any) -> None:
    cases = load_cases()
    for source, files in _seen:
        add_case(cases, source, files)
    save_cases(cases)
    print(f"\ngolden runbook cases: {len(cases)}", file=sys.stderr)


# -- as a script ------------------------------------------------------------------------------

def _written_runbooks(test_file: Path) -> list[str]:
    """The runbook texts a test file writes, as strings or f-strings (each `{...}` a path)."""
    tree = ast.parse(test_file.read_text())
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "/tmp/placeholder" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            text = node.value
        else:
            continue
        if "\n[" in text and ("[pipeline." in text or "[worker." in text or "[task." in text):
            found.append(text)
    return found


def main() -> None:
    cases = load_cases()
    for folder in [ROOT / "examples" / "runbooks", ROOT / "tests" / "runbooks" / "broken", *sorted(Path(__file__).with_name("messages").glob("*/"))]:
        contents = folder_files(folder)
        if contents:
            add_case(cases, str(folder.relative_to(ROOT)), contents)
    for test_file in [ROOT / "tests" / "e2e" / "test_runbooks_cli.py", ROOT / "tests" / "record_histories.py",
                      ROOT / "tests" / "client" / "runbooks" / "test_parser.py"]:
        for index, text in enumerate(_written_runbooks(test_file)):
            add_case(cases, f"{test_file.relative_to(ROOT)}#{index}", {"ops.toml": text})
    save_cases(cases)
    print(f"golden runbook cases: {len(cases)}", file=sys.stderr)


if __name__ == "__main__":
    main()
