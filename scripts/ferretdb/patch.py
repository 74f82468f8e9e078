"""Applies the CRM platform's two changes to a copy of FerretDB v1.24's source (run by
scripts/install-ferretdb.sh; exits non-zero, naming what it did not find, when the source
is not the one the changes were written for).

1. The `_id` look-up is spelled as the unique `_id` index's expression, so SQLite uses
   the index (scripts/install-ferretdb.sh says why).
2. Filter pushdown (`pushdown.go`, beside this file): the SQLite backend hands SQLite the
   parts of a filter whose superset it can state, instead of only `{_id: v}`.
3. Faster decoding of stored documents (`sjson_fast.go`, with its test
   `sjson_fast_test.go`): FerretDB's own decoder stays as the fallback for what the fast
   path does not take.
"""

from __future__ import annotations

import shutil
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


def replace_once(path: Path, before: str, after: str) -> None:
    text = path.read_text()
    if text.count(before) != 1:
        sys.exit(f"patch-ferretdb: {path} does not hold the expected code once; review the patch")
    path.write_text(text.replace(before, after))


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
    for name in ("sjson_fast.go", "sjson_fast_test.go"):
        shutil.copy(Path(__file__).with_name(name), sjson / name.removeprefix("sjson_"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), pushdown="--no-pushdown" not in sys.argv[2:])
