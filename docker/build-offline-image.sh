#!/usr/bin/env bash
# Builds the agent image without an image registry: a Debian root filesystem from debootstrap
# (git, ca-certificates, nodejs), the two agent CLIs from npm, a non-root user `agent` (uid 1000),
# imported with `docker import`. Same contents and tag as `docker build -t orchard-agent docker/`.
#
#   docker/build-offline-image.sh [IMAGE]        (default orchard-agent:latest; needs root)
#
# The image is labelled with a digest of this script and the CLI versions; when an image with
# that digest exists, nothing is rebuilt (CI calls this on every run).
set -euo pipefail

IMAGE="${1:-orchard-agent:latest}"
CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.197}"
CODEX_VERSION="${CODEX_VERSION:-0.169.0}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

digest="$( (cat "$0"; echo "$CLAUDE_CODE_VERSION $CODEX_VERSION $SUITE") | sha256sum | cut -c1-16)"
if [ "$(docker image inspect --format '{{ index .Config.Labels "orchard.image.digest" }}' "$IMAGE" 2>/dev/null)" = "$digest" ]; then
    echo "$IMAGE is up to date ($digest)"
    exit 0
fi

work="$(mktemp -d /var/tmp/orchard-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap $SUITE into $rootfs ..."
debootstrap --variant=minbase --include=git,ca-certificates,nodejs "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }

echo "installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION and @openai/codex@$CODEX_VERSION ..."
npm install --global --no-fund --no-audit --prefix "$rootfs/usr/local" \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_VERSION" >"$work/npm.log" 2>&1 \
    || { tail -20 "$work/npm.log"; exit 1; }

chroot "$rootfs" useradd --create-home --uid 1000 --shell /bin/bash agent
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "importing $IMAGE ..."
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
    --change 'ENV DISABLE_AUTOUPDATER=1' \
    --change "LABEL orchard.image.digest=$digest" \
    --change 'USER agent' \
    --change 'WORKDIR /home/agent' \
    - "$IMAGE" >/dev/null
echo "built $IMAGE ($digest)"
