#!/usr/bin/env bash
# Installs FerretDB from the Go module proxy into a per-version cache outside the clone.
#
# Why not a plain `go install ...@v1.24.2`: the module as published lacks the generated
# build/version/version.txt, so the installed binary panics at start ("Invalid
# build/version/version.txt file content"). We therefore download the very same module
# with `go mod download`, write the version file its build expects, and `go build` it.
#
# One fix is applied to the source before building (FERRETDB_UPSTREAM=1 builds it as
# published, into its own cache folder, to compare). The SQLite backend looks a document
# up by `_ferretdb_sjson->'$._id'`, while the unique `_id` index it creates is on
# `_ferretdb_sjson->"_id"`; SQLite matches an index by expression, not by meaning, so every
# `{_id: ...}` find, update and delete scans the whole table (EXPLAIN QUERY PLAN: "SCAN"; a
# lookup in 10,000 documents took 35 ms). Spelling the lookup `->'_id'` (the same JSON path)
# makes SQLite use the index ("SEARCH ... USING INDEX ..__id_"). Nothing else changes.
set -euo pipefail

VERSION="${FERRETDB_VERSION:-v1.24.2}"
CACHE_ROOT="${CRM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crm-platform}"
UPSTREAM="${FERRETDB_UPSTREAM:-0}"
FLAVOUR="$([[ "$UPSTREAM" == 1 ]] && echo upstream || echo idfix)"
TARGET="$CACHE_ROOT/ferretdb-$VERSION-$FLAVOUR/ferretdb"

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
if [[ "$UPSTREAM" != 1 ]]; then
  META="$WORK/internal/backends/sqlite/metadata/metadata.go"
  FROM="IDColumn = DefaultColumn + \"->'\$._id'\""
  grep -qF "$FROM" "$META" || {
    echo "install-ferretdb: $VERSION does not have the expected _id lookup; review the fix" >&2
    exit 1
  }
  sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$META"
  grep -qF "IDColumn = DefaultColumn + \"->'_id'\"" "$META" || {
    echo "install-ferretdb: the _id lookup fix did not apply" >&2
    exit 1
  }
fi
(cd "$WORK" && CGO_ENABLED=0 go build -trimpath -o "$TARGET.tmp" ./cmd/ferretdb) >&2
mv "$TARGET.tmp" "$TARGET"
"$TARGET" --version >&2
echo "$TARGET"
