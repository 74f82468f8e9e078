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
//   - `_id` equal to a string or an ObjectID, or `$in` a list of them, among other
//     conditions or alone: the `_id` index;
//   - `{field: v}`, `{field: {$eq: v}}` and `{field: {$in: [v, ...]}}` for a top-level
//     field and string or boolean values: the field's JSON is one of the values' JSON, or
//     the field holds an array (MongoDB's equality matches an array holding the value;
//     the Go filter decides those). Both halves are
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
			// An `_id` is never an array: its JSON is one of the values' or it is no match.
			ids := idsEqualTo(value)
			if ids == nil {
				continue
			}

			marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
			*conditions = append(*conditions, metadata.IDColumn+` IN (`+marks+`)`)

			for _, id := range ids {
				*args = append(*args, string(must.NotFail(sjson.MarshalSingleValue(id))))
			}

		case pushdownField.MatchString(key):
			values := equalTo(value)
			if values == nil {
				continue
			}

			field := metadata.DefaultColumn + `->'` + key + `'`
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")
			*conditions = append(*conditions, `(`+field+` IN (`+marks+`) OR (`+field+` >= ? AND `+field+` < ?))`)

			for _, v := range values {
				*args = append(*args, string(must.NotFail(sjson.MarshalSingleValue(v))))
			}

			*args = append(*args, `[`, `\`)
		}
	}
}

// maxInValues bounds the values of one pushed `$in` (SQLite's limit on a statement's
// parameters is far above it); a longer list is left to the Go filter.
const maxInValues = 1000

// equalTo returns the values a field condition requires the field to equal (or, for an
// array field, to hold one of), when each is pushable: `v`, `{$eq: v}`, `{$in: [v...]}`.
// Nil for any other condition.
func equalTo(condition any) []any {
	return operands(condition, pushableScalar)
}

// idsEqualTo returns the ids an `_id` condition requires (`v`, `{$eq: v}`, `{$in: [...]}`
// of strings and ObjectIDs, the types FerretDB's own `_id` pushdown took), or nil.
func idsEqualTo(condition any) []any {
	return operands(condition, func(v any) bool {
		switch v.(type) {
		case string, types.ObjectID:
			return true
		default:
			return false
		}
	})
}

// operands returns the values of `v`, `{$eq: v}` or `{$in: [v...]}` when `accept` takes
// every one of them; nil for any other condition.
func operands(condition any, accept func(any) bool) []any {
	operators, ok := condition.(*types.Document)
	if !ok {
		if accept(condition) {
			return []any{condition}
		}

		return nil
	}

	if operators.Len() != 1 {
		return nil
	}

	switch operator := operators.Keys()[0]; operator {
	case "$eq":
		if v := must.NotFail(operators.Get(operator)); accept(v) {
			return []any{v}
		}
	case "$in":
		list, ok := must.NotFail(operators.Get(operator)).(*types.Array)
		if !ok || list.Len() == 0 || list.Len() > maxInValues {
			return nil
		}

		values := make([]any, 0, list.Len())

		for i := 0; i < list.Len(); i++ {
			v := must.NotFail(list.Get(i))
			if !accept(v) {
				return nil
			}

			values = append(values, v)
		}

		return values
	}

	return nil
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
