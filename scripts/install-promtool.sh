#!/usr/bin/env bash
# Builds Prometheus's `promtool` from the Go module proxy into a per-version cache outside
# the clone (once; ~1 GB of modules and a few minutes on 2 cores the first time), and prints
# its path. The tests check and unit-test deploy/monitoring/alerts.yaml with it.
set -euo pipefail

# The Prometheus module's v0.3xx tags are its 3.x releases.
VERSION="${PROMTOOL_VERSION:-v0.316.0}"
CACHE_ROOT="${CRM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crm-platform}"
TARGET="$CACHE_ROOT/promtool-$VERSION/promtool"

if [[ -x "$TARGET" ]] && "$TARGET" --version >/dev/null 2>&1; then
  echo "$TARGET"
  exit 0
fi
command -v go >/dev/null || { echo "install-promtool: Go is required" >&2; exit 1; }
mkdir -p "$(dirname "$TARGET")"
GOBIN="$(dirname "$TARGET")" GOFLAGS=-mod=mod go install \
  "github.com/prometheus/prometheus/cmd/promtool@$VERSION" >&2
"$TARGET" --version >/dev/null
echo "$TARGET"
