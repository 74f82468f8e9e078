#!/usr/bin/env bash
# Installs FerretDB from the Go module proxy into a per-version cache outside the clone.
#
# Why not a plain `go install ...@v1.24.2`: the module as published lacks the generated
# build/version/version.txt, so the installed binary panics at start ("Invalid
# build/version/version.txt file content"). We therefore download the very same module
# with `go mod download`, write the version file its build expects, and `go build` it.
set -euo pipefail

VERSION="${FERRETDB_VERSION:-v1.24.2}"
CACHE_ROOT="${CRM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crm-platform}"
TARGET="$CACHE_ROOT/ferretdb-$VERSION/ferretdb"

if [[ -x "$TARGET" ]] && "$TARGET" --version >/dev/null 2>&1; then
  echo "$TARGET"
  exit 0
fi

command -v go >/dev/null || { echo "install-ferretdb: Go is required (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$(dirname "$TARGET")"
MODDIR="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r "$MODDIR/." "$WORK/"
chmod -R u+w "$WORK"
echo "$VERSION" > "$WORK/build/version/version.txt"
echo "go-module-proxy" > "$WORK/build/version/package.txt"
(cd "$WORK" && CGO_ENABLED=0 go build -trimpath -o "$TARGET.tmp" ./cmd/ferretdb) >&2
mv "$TARGET.tmp" "$TARGET"
"$TARGET" --version >&2
echo "$TARGET"
