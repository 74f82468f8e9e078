// Faster decoding of the SQLite backend's stored documents, added by the CRM platform's
// build of FerretDB (scripts/install-ferretdb.sh). Not part of FerretDB as published.
//
// FerretDB v1.24 decodes every document it reads from SQLite (sjson: the document's JSON
// with its type schema under "$s") through encoding/json: the whole text into a map of raw
// values, the schema by reflection, then each value with a json.Decoder of its own, and
// each nested document or array again the same way. A profile of a collection scan showed
// half of FerretDB's CPU in it, most of that allocation and garbage collection.
//
// This file decodes the same text in one pass per nesting level: it splits an object or
// an array into its raw members without building a map, decodes strings without escapes,
// numbers and booleans directly, and keeps each distinct schema text decoded once (a
// collection's documents mostly share a few). Anything else (escaped strings and keys,
// ObjectIDs, binary data, regexes, timestamps, members out of the schema's order,
// anything malformed) goes to FerretDB's own decoder (`slowUnmarshal`,
// `unmarshalSingleValue`), so the result is the one FerretDB's decoder gives, or its error.

package sjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// Unmarshal decodes sjson-encoded data (a whole stored document, its "$s" schema first).
func Unmarshal(data []byte) (*types.Document, error) {
	if doc, ok := fastUnmarshal(data); ok {
		return doc, nil
	}

	return slowUnmarshal(data)
}

func fastUnmarshal(data []byte) (*types.Document, bool) {
	keys, values, ok := splitObject(data)
	if !ok || len(keys) == 0 || string(keys[0]) != "$s" {
		return nil, false
	}

	sch, ok := cachedSchema(values[0])
	if !ok || len(sch.Keys) != len(keys)-1 {
		return nil, false
	}

	return decodeMembers(sch, keys[1:], values[1:])
}

// fastSingleValue decodes what it can of one value by its schema element; false leaves
// the value to FerretDB's own decoder.
func fastSingleValue(data []byte, sch *elem) (any, bool) {
	if sch == nil {
		return nil, false
	}

	switch sch.Type {
	case elemTypeString:
		if v, ok := fastString(data); ok {
			return v, true
		}

		// Escapes: encoding/json's own unquoting, without a Decoder (and its buffer) per value.
		var s string
		if err := json.Unmarshal(data, &s); err == nil {
			return s, true
		}
	case elemTypeBool:
		switch string(data) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	case elemTypeInt:
		if n, err := strconv.ParseInt(string(data), 10, 32); err == nil {
			return int32(n), true
		}
	case elemTypeLong:
		if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
			return n, true
		}
	case elemTypeDate:
		if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
			return time.UnixMilli(n), true
		}
	case elemTypeDouble:
		if isJSONNumber(data) {
			if f, err := strconv.ParseFloat(string(data), 64); err == nil {
				return f, true
			}
		}
	case elemTypeObject:
		if sch.Schema == nil {
			return nil, false
		}

		keys, values, ok := splitObject(data)
		if !ok || len(keys) == 0 || len(keys) != len(sch.Schema.Keys) {
			return nil, false // an empty document: FerretDB's decoder makes it
		}

		return decodeMembers(sch.Schema, keys, values)
	case elemTypeArray:
		if sch.Items == nil {
			return nil, false
		}

		values, ok := splitArray(data)
		if !ok || len(values) != len(sch.Items) {
			return nil, false
		}

		arr := types.MakeArray(len(values))

		for i, raw := range values {
			v, err := unmarshalSingleValue(raw, sch.Items[i])
			if err != nil {
				return nil, false
			}

			arr.Append(v)
		}

		return arr, true
	}

	return nil, false
}

// decodeMembers builds a document from an object's members, which must come in the
// schema's key order (as FerretDB writes them).
func decodeMembers(sch *schema, keys, values [][]byte) (*types.Document, bool) {
	if len(keys) != len(sch.Keys) {
		return nil, false
	}

	doc, err := types.NewDocument()
	if err != nil {
		return nil, false
	}

	for i, key := range sch.Keys {
		if string(keys[i]) != key {
			return nil, false
		}

		v, err := unmarshalSingleValue(values[i], sch.Properties[key])
		if err != nil {
			return nil, false
		}

		doc.Set(key, v)
	}

	return doc, true
}

// fastString decodes a JSON string without escapes (the text between the quotes).
func fastString(data []byte) (any, bool) {
	n := len(data)
	if n < 2 || data[0] != '"' || data[n-1] != '"' {
		return nil, false
	}

	inner := data[1 : n-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return nil, false
		}
	}

	if !utf8.Valid(inner) {
		return nil, false
	}

	return string(inner), true
}

// isJSONNumber reports whether data has only a JSON number's characters and starts like
// one (strconv.ParseFloat also takes "Inf", "NaN", hex and underscores; JSON does not).
func isJSONNumber(data []byte) bool {
	if len(data) == 0 || (data[0] != '-' && (data[0] < '0' || data[0] > '9')) {
		return false
	}

	for _, c := range data {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}

	return true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}

	return i
}

// skipString returns the index after the string starting at data[i] (a quote), or -1.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}

	return -1
}

// skipValue returns the index after the value starting at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}

	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		var open []byte

		for j := i; j < len(data); j++ {
			switch c := data[j]; c {
			case '"':
				k := skipString(data, j)
				if k < 0 {
					return -1
				}

				j = k - 1
			case '{', '[':
				open = append(open, c)
			case '}', ']':
				if len(open) == 0 || (c == '}') != (open[len(open)-1] == '{') {
					return -1
				}

				open = open[:len(open)-1]
				if len(open) == 0 {
					return j + 1
				}
			}
		}

		return -1
	default:
		j := i
		for j < len(data) {
			c := data[j]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
				break
			}

			j++
		}

		if j == i {
			return -1
		}

		return j
	}
}

// splitObject returns an object's keys (as written: keys with escapes are refused) and raw
// values, in order.
func splitObject(data []byte) ([][]byte, [][]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, nil, false
	}

	var keys, values [][]byte

	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return keys, values, skipSpace(data, i+1) == len(data)
	}

	for {
		if i >= len(data) || data[i] != '"' {
			return nil, nil, false
		}

		end := skipString(data, i)
		if end < 0 {
			return nil, nil, false
		}

		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			return nil, nil, false
		}

		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, nil, false
		}

		start := skipSpace(data, i+1)

		stop := skipValue(data, start)
		if stop < 0 {
			return nil, nil, false
		}

		keys = append(keys, key)
		values = append(values, data[start:stop])

		i = skipSpace(data, stop)
		if i >= len(data) {
			return nil, nil, false
		}

		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return keys, values, skipSpace(data, i+1) == len(data)
		default:
			return nil, nil, false
		}
	}
}

// splitArray returns an array's raw values, in order.
func splitArray(data []byte) ([][]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, false
	}

	var values [][]byte

	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return values, skipSpace(data, i+1) == len(data)
	}

	for {
		stop := skipValue(data, i)
		if stop < 0 {
			return nil, false
		}

		values = append(values, data[i:stop])

		i = skipSpace(data, stop)
		if i >= len(data) {
			return nil, false
		}

		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return values, skipSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

// Decoded schemas by their text: read-only once decoded, shared by the documents that
// have the same shape. Emptied when full (documents of many shapes: no worse than before).
var (
	schemasMu sync.RWMutex
	schemas   = map[string]*schema{}
)

const schemasLimit = 4096

func cachedSchema(raw []byte) (*schema, bool) {
	schemasMu.RLock()
	sch, ok := schemas[string(raw)]
	schemasMu.RUnlock()

	if ok {
		return sch, true
	}

	sch, err := decodeSchema(raw)
	if err != nil {
		return nil, false
	}

	schemasMu.Lock()
	if len(schemas) >= schemasLimit {
		schemas = map[string]*schema{}
	}
	schemas[string(raw)] = sch
	schemasMu.Unlock()

	return sch, true
}

// decodeSchema decodes a schema as FerretDB's own decoder does.
func decodeSchema(raw []byte) (*schema, error) {
	var sch schema

	r := bytes.NewReader(raw)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(&sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

	return &sch, nil
}
