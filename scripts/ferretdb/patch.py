"""Applies the CRM platform's changes to a copy of FerretDB v1.24's source (run by
scripts/install-ferretdb.sh; exits non-zero, naming what it did not find, when the source
is not the one the changes were written for).

1. The `_id` look-up is spelled as the unique `_id` index's expression, so SQLite uses
   the index (scripts/install-ferretdb.sh says why).
2. Filter pushdown (`pushdown.go`, beside this file): the SQLite backend hands SQLite the
   parts of a filter whose superset it can state, instead of only `{_id: v}`.
3. Faster decoding of stored documents (`sjson_fast.go`, with its test
   `sjson_fast_test.go`): FerretDB's own decoder stays as the fallback for what the fast
   path does not take.
4. Faster encoding of documents to store (`sjson_marshal_fast.go`, with its test
   `sjson_marshal_fast_test.go`, and `types_unique_fields.go` for it): FerretDB's own
   encoder stays as the fallback.
5. No lifetime tracking of iterators in a release build: FerretDB registers each
   document and array iterator, row set and transaction in a pprof profile (a stack
   trace and a global lock each) and a finalizer, to panic on a leaked one; only its
   debug builds print where the leak came from (`RESOURCE_BEFORE`).
6. A faster memcmp in the C library of FerretDB's SQLite (modernc.org/libc, copied beside
   the source and used through a `replace`; `libc_memcmp_linux_amd64.go`, with its test).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ID_BEFORE = "IDColumn = DefaultColumn + \"->'$._id'\""
ID_AFTER = "IDColumn = DefaultColumn + \"->'_id'\""

QUERY_BEFORE = """	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
"""
QUERY_AFTER = """	whereClause, args = prepareWhereClause(params.Filter)
"""
EXPLAIN_BEFORE = """	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			filterPushdown = true
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
"""
UNMARSHAL_BEFORE = "func Unmarshal(data []byte) (*types.Document, error) {"
UNMARSHAL_AFTER = "func slowUnmarshal(data []byte) (*types.Document, error) {"
SINGLE_BEFORE = """	if bytes.Equal(data, []byte("null")) {
		return fromSJSON(new(nullType)), nil
	}

	if sch == nil {
		return nil, lazyerrors.Errorf("schema is not set")
	}
"""
SINGLE_AFTER = """	if bytes.Equal(data, []byte("null")) {
		return fromSJSON(new(nullType)), nil
	}

	if v, ok := fastSingleValue(data, sch); ok {
		return v, nil
	}

	if sch == nil {
		return nil, lazyerrors.Errorf("schema is not set")
	}
"""
EXPLAIN_AFTER = """	whereClause, args = prepareWhereClause(params.Filter)
	filterPushdown = whereClause != ""
"""
MARSHAL_BEFORE = "func Marshal(d *types.Document) ([]byte, error) {"
MARSHAL_AFTER = "func slowMarshal(d *types.Document) ([]byte, error) {"
# Track and Untrack as published (internal/util/resource/resource.go): each call takes a
# global lock and a stack trace (pprof's Profile.Add) and sets a finalizer; a profile of
# reads by `_id` put 13 % of FerretDB's CPU in it. A release build returns at once (the
# finalizer's panic on a leaked iterator, which would stop the server, goes with it).
RESOURCE_BEFORE = """func Track(obj any, token *Token) {
	checkArgs(obj, token)
"""
RESOURCE_AFTER = """func Track(obj any, token *Token) {
	if !debugbuild.Enabled {
		return // CRM platform build: no tracking outside debug builds
	}

	checkArgs(obj, token)
"""
UNTRACK_BEFORE = """func Untrack(obj any, token *Token) {
	checkArgs(obj, token)
"""
UNTRACK_AFTER = """func Untrack(obj any, token *Token) {
	if !debugbuild.Enabled {
		return // CRM platform build: Track did nothing either
	}

	checkArgs(obj, token)
"""


def replace_once(path: Path, before: str, after: str) -> None:
    text = path.read_text()
    if text.count(before) != 1:
        sys.exit(f"patch-ferretdb: {path} does not hold the expected code once; review the patch")
    path.write_text(text.replace(before, after))


# modernc.org/libc's translated memcmp (ccgo_linux_amd64.go), renamed so that
# libc_memcmp_linux_amd64.go's takes its place; the test compares the two.
MEMCMP_BEFORE = "func Xmemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) (r1 int32) {"
MEMCMP_AFTER = "func slowMemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) (r1 int32) {"
LIBC = "modernc.org/libc"


def patch_libc(source: Path) -> None:
    """A copy of the libc module FerretDB builds with, under `_crm/libc` in the source, with
    the faster memcmp, and FerretDB's go.mod pointing at it. Only on linux/amd64 (the
    translated C library differs per platform; elsewhere the build keeps it as it is)."""
    env = subprocess.run(
        ["go", "env", "GOOS", "GOARCH"], cwd=source, check=True, capture_output=True, text=True
    ).stdout.split()
    if env != ["linux", "amd64"]:
        return
    subprocess.run(["go", "mod", "download", LIBC], cwd=source, check=True)
    listed = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", LIBC],
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    )
    copy = source / "_crm" / "libc"
    shutil.copytree(listed.stdout.strip(), copy)
    for path in copy.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    copy.chmod(copy.stat().st_mode | 0o200)
    replace_once(copy / "ccgo_linux_amd64.go", MEMCMP_BEFORE, MEMCMP_AFTER)
    for name in ("libc_memcmp_linux_amd64.go", "libc_memcmp_linux_amd64_test.go"):
        shutil.copy(Path(__file__).with_name(name), copy / name.replace("libc_", "crm_", 1))
    subprocess.run(["go", "mod", "edit", f"-replace={LIBC}=./_crm/libc"], cwd=source, check=True)


def main(source: Path, pushdown: bool) -> None:
    replace_once(source / "internal/backends/sqlite/metadata/metadata.go", ID_BEFORE, ID_AFTER)
    if not pushdown:
        return
    collection = source / "internal/backends/sqlite/collection.go"
    replace_once(collection, EXPLAIN_BEFORE, EXPLAIN_AFTER)
    replace_once(collection, QUERY_BEFORE, QUERY_AFTER)
    shutil.copy(Path(__file__).with_name("pushdown.go"), source / "internal/backends/sqlite")
    sjson = source / "internal/handler/sjson"
    replace_once(sjson / "sjson.go", UNMARSHAL_BEFORE, UNMARSHAL_AFTER)
    replace_once(sjson / "sjson.go", SINGLE_BEFORE, SINGLE_AFTER)
    replace_once(sjson / "sjson.go", MARSHAL_BEFORE, MARSHAL_AFTER)
    for name in (
        "sjson_fast.go",
        "sjson_fast_test.go",
        "sjson_marshal_fast.go",
        "sjson_marshal_fast_test.go",
    ):
        shutil.copy(Path(__file__).with_name(name), sjson / name.removeprefix("sjson_"))
    types = source / "internal/types"
    if (types / "unique_fields.go").exists():
        sys.exit("patch-ferretdb: internal/types/unique_fields.go exists; review the patch")
    shutil.copy(Path(__file__).with_name("types_unique_fields.go"), types / "unique_fields.go")
    resource = source / "internal/util/resource/resource.go"
    replace_once(resource, RESOURCE_BEFORE, RESOURCE_AFTER)
    replace_once(resource, UNTRACK_BEFORE, UNTRACK_AFTER)
    patch_libc(source)


if __name__ == "__main__":
    main(Path(sys.argv[1]), pushdown="--no-pushdown" not in sys.argv[2:])
