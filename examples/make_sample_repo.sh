#!/usr/bin/env bash
# Create a small sample git repository for the demo: examples/make_sample_repo.sh DIR
set -euo pipefail
dir=${1:?usage: make_sample_repo.sh DIR}
if [ -e "$dir" ]; then echo "make_sample_repo: $dir already exists; pick a new folder" >&2; exit 2; fi
git init -q -b main "$dir"
cd "$dir"
printf '# Sample project\n\nA tiny repository for trying Orchard.\n' > README.md
printf 'def greet(name):\n    return "hello " + name\n' > greet.py
git add -A
git -c user.name="Orchard Demo" -c user.email=demo@orchard.invalid commit -qm "Sample project"
echo "$dir"
