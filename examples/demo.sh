#!/usr/bin/env bash
# The README's demo: best-of-n with the demo agent on a fresh sample repository, on the embedded
# Temporal server (started in the background; `orchard server stop` stops it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(mktemp -d "${TMPDIR:-/tmp}/orchard-demo.XXXXXX")/sample
"$here/make_sample_repo.sh" "$repo" >/dev/null
cd "$repo"
echo "sample repository: $repo"
orchard run "Add a friendly greeting to the project" --strategy best-of-n -S n=3 \
  --agent-command "$(command -v python3 || command -v python) $here/demo_agent.py"
echo
echo "branches now in $repo:"
git branch --list 'orchard/*'
