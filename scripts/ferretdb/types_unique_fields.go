// Added by the CRM platform's build of FerretDB (scripts/install-ferretdb.sh) for the
// faster sjson encoder (internal/handler/sjson/marshal_fast.go). Not part of FerretDB as
// published.

package types

// UniqueFields returns the document's keys and values in order, and false (and nothing
// else) for a nil document or when a key repeats: FerretDB's sjson encoder panics on
// those, so the faster one leaves them to it. d.keys counts each key's fields, so it has fewer entries than there
// are fields exactly when a key repeats.
func (d *Document) UniqueFields() ([]string, []any, bool) {
	if d == nil || len(d.keys) != len(d.fields) {
		return nil, nil, false
	}

	keys := make([]string, len(d.fields))
	values := make([]any, len(d.fields))

	for i, f := range d.fields {
		keys[i] = f.key
		values[i] = f.value
	}

	return keys, values, true
}
