#!/usr/bin/env bash
# Makes this task's repository in the current folder.
set -euo pipefail
mkdir -p units
cat > README.md <<'EOF'
# units

A small utility package.
EOF
cat > units/temperature.py <<'EOF'
def fahrenheit_to_celsius(degrees: float) -> float:
    """Degrees Fahrenheit in degrees Celsius."""
    return (degrees - 32) * 9 / 5
EOF
