// Faster encoding of the SQLite backend's stored documents, added by the CRM platform's
// build of FerretDB (scripts/install-ferretdb.sh). Not part of FerretDB as published.
//
// FerretDB v1.24 encodes every document it writes (sjson: the document's JSON with its
// type schema under "$s") piece by piece: a bytes.Buffer per value and per schema element,
// encoding/json for each string, number and key, and a linear look-up of each key to find
// its value again (quadratic in the fields). A profile of an import's insert_many put a
// third of FerretDB's CPU in it.
//
// This file writes the same bytes in one buffer: the schema, then the values, walking the
// fields once. Strings and keys of printable ASCII that encoding/json would not escape are
// copied as they are; every other string goes through encoding/json as before, numbers are
// formatted the way encoding/json formats them (strconv). Binary data and regexes, a
// non-finite double (an error) and a document with a repeated key (a panic) are handed to
// FerretDB's own encoder (`slowMarshal`, `marshalElemForSingleValue`, `MarshalJSON`), so
// the bytes, errors and panics are the ones FerretDB's encoder gives.

package sjson

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/FerretDB/FerretDB/internal/types"
)

// Marshal encodes a document as sjson (its "$s" schema first, then its fields).
func Marshal(d *types.Document) ([]byte, error) {
	if d == nil {
		panic("v is nil")
	}

	if b, ok := fastMarshal(d); ok {
		return b, nil
	}

	return slowMarshal(d)
}

// lastMarshalSize sizes the next buffer: a collection's documents are mostly alike.
var lastMarshalSize atomic.Int64

func fastMarshal(d *types.Document) ([]byte, bool) {
	keys, values, ok := d.UniqueFields()
	if !ok {
		return nil, false
	}

	size := lastMarshalSize.Load()
	buf := make([]byte, 0, size+size/8+64)
	buf = append(buf, `{"$s":`...)

	if buf, ok = appendSchema(buf, keys, values); !ok {
		return nil, false
	}

	for i, key := range keys {
		if !plainString(key) {
			return nil, false // FerretDB writes top-level keys unescaped; its encoder decides
		}

		buf = append(buf, ',', '"')
		buf = append(buf, key...)
		buf = append(buf, '"', ':')

		if buf, ok = appendValue(buf, values[i]); !ok {
			return nil, false
		}
	}

	buf = append(buf, '}')
	lastMarshalSize.Store(int64(len(buf)))

	return buf, true
}

// appendSchema appends what marshalSchemaForDoc returns for a document of these fields.
func appendSchema(buf []byte, keys []string, values []any) ([]byte, bool) {
	if len(keys) == 0 {
		return append(buf, '{', '}'), true
	}

	buf = append(buf, `{"p":{`...)

	var ok bool

	for i, key := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}

		buf = appendString(buf, key)
		buf = append(buf, ':')

		if buf, ok = appendElem(buf, values[i]); !ok {
			return nil, false
		}
	}

	buf = append(buf, `},"$k":[`...)

	for i, key := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}

		buf = appendString(buf, key)
	}

	return append(buf, ']', '}'), true
}

// appendElem appends what marshalElemForSingleValue returns for the value.
func appendElem(buf []byte, value any) ([]byte, bool) {
	switch v := value.(type) {
	case *types.Document:
		keys, values, ok := v.UniqueFields()
		if !ok {
			return nil, false
		}

		buf = append(buf, `{"t":"object","$s":`...)

		if buf, ok = appendSchema(buf, keys, values); !ok {
			return nil, false
		}

		return append(buf, '}'), true
	case *types.Array:
		buf = append(buf, `{"t":"array","i":[`...)

		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}

			item, err := v.Get(i)
			if err != nil {
				return nil, false
			}

			var ok bool
			if buf, ok = appendElem(buf, item); !ok {
				return nil, false
			}
		}

		return append(buf, ']', '}'), true
	case float64:
		return append(buf, `{"t":"double"}`...), true
	case string:
		return append(buf, `{"t":"string"}`...), true
	case types.ObjectID:
		return append(buf, `{"t":"objectId"}`...), true
	case bool:
		return append(buf, `{"t":"bool"}`...), true
	case time.Time:
		return append(buf, `{"t":"date"}`...), true
	case types.NullType:
		return append(buf, `{"t":"null"}`...), true
	case int32:
		return append(buf, `{"t":"int"}`...), true
	case types.Timestamp:
		return append(buf, `{"t":"timestamp"}`...), true
	case int64:
		return append(buf, `{"t":"long"}`...), true
	case types.Binary, types.Regex:
		b, err := marshalElemForSingleValue(v)
		if err != nil {
			return nil, false
		}

		return append(buf, b...), true
	}

	return nil, false
}

// appendValue appends what MarshalSingleValue returns for the value.
func appendValue(buf []byte, value any) ([]byte, bool) {
	switch v := value.(type) {
	case *types.Document:
		keys, values, ok := v.UniqueFields()
		if !ok {
			return nil, false
		}

		buf = append(buf, '{')

		for i, key := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}

			buf = appendString(buf, key)
			buf = append(buf, ':')

			if buf, ok = appendValue(buf, values[i]); !ok {
				return nil, false
			}
		}

		return append(buf, '}'), true
	case *types.Array:
		buf = append(buf, '[')

		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}

			item, err := v.Get(i)
			if err != nil {
				return nil, false
			}

			var ok bool
			if buf, ok = appendValue(buf, item); !ok {
				return nil, false
			}
		}

		return append(buf, ']'), true
	case float64:
		return appendDouble(buf, v)
	case string:
		return appendString(buf, v), true
	case types.ObjectID:
		buf = append(buf, '"')
		buf = hex.AppendEncode(buf, v[:])

		return append(buf, '"'), true
	case bool:
		return strconv.AppendBool(buf, v), true
	case time.Time:
		return strconv.AppendInt(buf, v.UnixMilli(), 10), true
	case types.NullType:
		return append(buf, "null"...), true
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), true
	case types.Timestamp:
		return strconv.AppendUint(buf, uint64(v), 10), true
	case int64:
		return strconv.AppendInt(buf, v, 10), true
	case types.Binary, types.Regex:
		b, err := MarshalSingleValue(v)
		if err != nil {
			return nil, false
		}

		return append(buf, b...), true
	}

	return nil, false
}

// appendDouble formats a double as encoding/json does (its floatEncoder for 64 bits);
// false for NaN and infinities, which encoding/json refuses.
func appendDouble(buf []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}

	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}

	buf = strconv.AppendFloat(buf, f, format, -1, 64)

	if format == 'e' {
		// encoding/json writes e-7, not strconv's e-07.
		n := len(buf)
		if n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}

	return buf, true
}

// appendString appends the string's JSON as encoding/json writes it.
func appendString(buf []byte, s string) []byte {
	if plainString(s) {
		buf = append(buf, '"')
		buf = append(buf, s...)

		return append(buf, '"')
	}

	b, _ := json.Marshal(s) // a string always encodes

	return append(buf, b...)
}

// plainString reports whether encoding/json writes the string as it is between quotes:
// printable ASCII without `"`, `\` and the `<`, `>`, `&` it escapes for HTML.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e:
			return false
		case c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		}
	}

	return true
}
