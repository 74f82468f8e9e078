#!/usr/bin/env bash
# Installs FerretDB from the Go module proxy into a per-version cache outside the clone.
#
# Why not a plain `go install ...@v1.24.2`: the module as published lacks the generated
# build/version/version.txt, so the installed binary panics at start ("Invalid
# build/version/version.txt file content"). We therefore download the very same module
# with `go mod download`, write the version file its build expects, and `go build` it.
#
# Six changes are applied to the source before building (`scripts/ferretdb/patch.py`;
# FERRETDB_UPSTREAM=1 builds it as published, FERRETDB_PUSHDOWN=0 with the first change
# only, each into its own cache folder, to compare):
#
# 1. The SQLite backend looks a document up by `_ferretdb_sjson->'$._id'`, while the unique
#    `_id` index it creates is on `_ferretdb_sjson->"_id"`; SQLite matches an index by
#    expression, not by meaning, so every `{_id: ...}` find, update and delete scanned the
#    whole table (EXPLAIN QUERY PLAN: "SCAN"; a lookup in 10,000 documents took 35 ms).
#    Spelling the lookup `->'_id'` (the same JSON path) makes SQLite use the index.
# 2. Filter pushdown (`scripts/ferretdb/pushdown.go`): the backend handed SQLite only a
#    filter that was exactly `{_id: v}` and decoded every document of the collection in
#    Go for any other. It now hands SQLite a superset of the matches of each top-level
#    equality on a string or a boolean (and `_id` among other conditions, and `$and`),
#    which SQLite answers from the field's index when there is one; the handlers filter
#    what comes back in Go as before, so results do not change. (An outbox sweep,
#    `{_outbox_pending: true}` over 50,000 documents: 18.7 s before; after, 2.3 s
#    without an index on the field, 2 ms with one.)
# 3. Faster decoding of stored documents (`scripts/ferretdb/sjson_fast.go`): a scan spent
#    half of FerretDB's CPU in encoding/json decoding each document value by value; the
#    fast path splits objects and arrays in one pass and decodes plain strings, numbers
#    and booleans directly, and hands anything else to FerretDB's own decoder (2.6x less
#    CPU per document in its benchmark). FERRETDB_PUSHDOWN=0 leaves out 2 to 6.
# 4. Faster encoding of documents to store (`scripts/ferretdb/sjson_marshal_fast.go`): a
#    third of an import insert's CPU went into FerretDB's encoder (a buffer and an
#    encoding/json call per value and per schema element, a linear key look-up per field);
#    the fast path writes the same bytes in one buffer, 5x less CPU per deal-shaped
#    document in its benchmark, and hands binary data, regexes, non-finite doubles and
#    repeated keys to FerretDB's encoder. Its test checks it byte for byte against
#    FerretDB's encoder at every build.
# 5. No lifetime tracking of iterators outside debug builds (`resource.Track`: a pprof
#    stack trace, a global lock and a finalizer for every document or array iterator, row
#    set and transaction; 13 % of FerretDB's CPU on reads by `_id`).
# 6. A faster memcmp in modernc.org/libc, the C library of FerretDB's SQLite (translated to
#    Go, it compared byte by byte): SQLite compares a row's whole JSON text against its
#    JSON cache for each indexed field (8 % of an import insert's CPU). The module is
#    copied beside the source and used through a `replace` (linux/amd64 only; elsewhere
#    the build keeps it as published); its test checks the sign against the original.
# Measured with bench/ferretdb/statements.py (FerretDB CPU per statement kind, builds side
# by side): see docs/developing-a-service.md ("FerretDB subset").
#
# How the stack runs it (crm_kit.devstack.start_ferretdb, not part of the build): SQLite
# with synchronous NORMAL (CRM_FERRETDB_SYNCHRONOUS=full for FULL) and Go's GOGC at 400
# (CRM_FERRETDB_GOGC); the README's "Known limits of the embedded database" says why.
set -euo pipefail

VERSION="${FERRETDB_VERSION:-v1.24.2}"
CACHE_ROOT="${CRM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crm-platform}"
UPSTREAM="${FERRETDB_UPSTREAM:-0}"
PUSHDOWN="${FERRETDB_PUSHDOWN:-1}"
if [[ "$UPSTREAM" == 1 ]]; then
  FLAVOUR=upstream
else
  # Keyed by the changes' text too: an edited change builds afresh.
  FLAVOUR="$([[ "$PUSHDOWN" == 1 ]] && echo pushdown || echo idfix)-$(
    cat "${BASH_SOURCE[0]}" "$(dirname "${BASH_SOURCE[0]}")"/ferretdb/* | sha256sum | cut -c1-12)"
fi
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
  PATCH_ARGS=()
  [[ "$PUSHDOWN" == 1 ]] || PATCH_ARGS+=(--no-pushdown)
  python3 "$(dirname "${BASH_SOURCE[0]}")/ferretdb/patch.py" "$WORK" "${PATCH_ARGS[@]}"
  # What `buildInfo` answers as `gitVersion`: how the services tell this build
  # (crm_kit.mongo.pushes_filters_down) from a FerretDB that pushes only `{_id: v}` down.
  [[ "$PUSHDOWN" == 1 ]] && echo "crm-filter-pushdown" > "$WORK/build/version/commit.txt"
  if [[ "$PUSHDOWN" == 1 ]]; then
    # The decoding fast path is checked against FerretDB's own decoder (its sjson tests and
    # ours) before anything is built: a failure stops the install. (FerretDB's test
    # helpers look for a .git directory above the source.)
    (cd "$WORK" && git init -q . && go test -count=1 ./internal/handler/sjson/) >&2
    # And the faster memcmp against the translated one (where it is built: linux/amd64).
    if [[ -d "$WORK/_crm/libc" ]]; then
      (cd "$WORK" && go test -count=1 -run FastMemcmp modernc.org/libc) >&2
    fi
  fi
fi
(cd "$WORK" && CGO_ENABLED=0 go build -trimpath -o "$TARGET.tmp" ./cmd/ferretdb) >&2
mv "$TARGET.tmp" "$TARGET"
"$TARGET" --version >&2
echo "$TARGET"
