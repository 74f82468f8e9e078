// Filter pushdown for the SQLite backend, added by the CRM platform's build of FerretDB
// (scripts/install-ferretdb.sh). Not part of FerretDB as published.
//
// FerretDB v1.24's SQLite backend hands SQLite only a filter that is exactly `{_id: v}`;
// every other filter reads every document of the collection, decodes it in Go and
// filters it there. A backend may apply a filter "partially or entirely" as long as what
// it returns is a superset of the matches: every handler (find, count, update, delete,
// findAndModify, distinct, aggregate's leading $match) filters the returned documents
// again in Go. So this file turns the parts of a filter whose superset is easy to state
// in SQL into a WHERE clause, and leaves the rest to the Go filter:
//
//   - `{_id: <string or ObjectID>}` among other conditions: the `_id` index;
//   - `{field: <string>}` and `{field: <bool>}` for a top-level field: the field's JSON
//     equals the value's JSON, or the field holds an array (MongoDB's equality matches an
//     array holding the value; the Go filter decides those). Both halves are
//     conditions on the same expression an index on the field is built on, so SQLite
//     answers from such an index ("MULTI-INDEX OR") and scans only without one;
//   - the conditions of `$and`'s elements, ANDed.
//
// A string is pushed down only when its JSON text is the same whoever writes it:
// printable ASCII without `"`, `\`, `<`, `>` and `&` (which Go's encoder escapes), so
// the value's JSON equals the stored field's JSON byte for byte. Anything else (numbers,
// null, operators, dotted paths, other strings) is not pushed: a missed pushdown costs
// time, a wrong one would lose matches.

package sqlite

import (
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var pushdownField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// prepareWhereClause returns a WHERE clause (with its arguments) selecting a superset of
// the documents the filter matches, or "" when no part of it can be pushed down.
func prepareWhereClause(filter *types.Document) (string, []any) {
	var conditions []string
	var args []any

	collectPushdown(filter, &conditions, &args)

	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), args
}

func collectPushdown(filter *types.Document, conditions *[]string, args *[]any) {
	if filter == nil {
		return
	}

	seen := map[string]int{}
	for _, key := range filter.Keys() {
		seen[key]++
	}

	for _, key := range filter.Keys() {
		if seen[key] != 1 {
			continue // a repeated key: which one counts is the Go filter's business
		}

		value := must.NotFail(filter.Get(key))

		switch {
		case key == "$and":
			elements, ok := value.(*types.Array)
			if !ok {
				continue
			}

			for i := 0; i < elements.Len(); i++ {
				if element, ok := must.NotFail(elements.Get(i)).(*types.Document); ok {
					collectPushdown(element, conditions, args)
				}
			}

		case key == "_id":
			switch value.(type) {
			case string, types.ObjectID:
				*conditions = append(*conditions, metadata.IDColumn+` = ?`)
				*args = append(*args, string(must.NotFail(sjson.MarshalSingleValue(value))))
			}

		case pushdownField.MatchString(key):
			if !pushableScalar(value) {
				continue
			}

			field := metadata.DefaultColumn + `->'` + key + `'`
			*conditions = append(*conditions, `(`+field+` = ? OR (`+field+` >= ? AND `+field+` < ?))`)
			*args = append(*args, string(must.NotFail(sjson.MarshalSingleValue(value))), `[`, `\`)
		}
	}
}

// pushableScalar reports whether the value's JSON text is the stored field's JSON text
// whenever the two are equal in MongoDB's sense.
func pushableScalar(value any) bool {
	switch v := value.(type) {
	case bool:
		return true
	case string:
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
		}

		return true
	default:
		return false
	}
}
