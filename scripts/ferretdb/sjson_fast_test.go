// The fast decoding path (fast.go, added by the CRM platform's build of FerretDB) gives
// what FerretDB's own decoder gives, or fails where it fails: random documents of every
// type and hand-made odd texts, decoded both ways.

package sjson

import (
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var fastStrings = []string{
	"", "a", "plain words", "x<y&z>", `quote " inside`, `back\slash`, "tab\tnew\nline",
	"é ü 日本", "emoji 😀", "\u2028sep", "ctl\x01", "$dollar", "a.b", strings.Repeat("long ", 50),
}

func randomValue(r *rand.Rand, depth int) any {
	kinds := 12
	if depth > 2 {
		kinds = 10 // no more nesting
	}

	switch r.Intn(kinds) {
	case 0:
		return fastStrings[r.Intn(len(fastStrings))]
	case 1:
		return r.Intn(2) == 0
	case 2:
		return int32(r.Int63n(1<<32) - 1<<31)
	case 3:
		return r.Int63() - r.Int63()
	case 4:
		return []float64{0, math.Copysign(0, -1), 1.5, -2.25e-300, 1e300, 123456789.125, 0.1}[r.Intn(7)]
	case 5:
		return time.UnixMilli(r.Int63n(4e12) - 1e12)
	case 6:
		return types.Null
	case 7:
		var id types.ObjectID
		r.Read(id[:])
		return id
	case 8:
		return types.Binary{Subtype: types.BinaryGeneric, B: []byte("bin\x00ary")}
	case 9:
		return types.Timestamp(r.Uint64())
	case 10:
		doc := must.NotFail(types.NewDocument())
		for i := r.Intn(5); i > 0; i-- {
			doc.Set(fastStrings[r.Intn(3)]+"k"+string(rune('a'+i)), randomValue(r, depth+1))
		}
		return doc
	default:
		arr := types.MakeArray(0)
		for i := r.Intn(4); i > 0; i-- {
			v := randomValue(r, depth+1)
			if _, nested := v.(*types.Array); nested {
				continue // FerretDB stores no nested arrays
			}
			arr.Append(v)
		}
		return arr
	}
}

func TestFastDecodingEqualsFerretDBDecoding(t *testing.T) {
	t.Parallel()

	r := rand.New(rand.NewSource(14))
	fast := 0

	for n := 0; n < 3000; n++ {
		doc := must.NotFail(types.NewDocument())
		doc.Set("_id", fastStrings[r.Intn(4)]+string(rune('A'+n%26)))

		for i := r.Intn(12); i > 0; i-- {
			doc.Set("f"+string(rune('a'+i)), randomValue(r, 0))
		}

		data, err := Marshal(doc)
		require.NoError(t, err)

		expected, err := slowUnmarshal(data)
		require.NoError(t, err)

		if _, ok := fastUnmarshal(data); ok {
			fast++
		}

		actual, err := Unmarshal(data)
		require.NoError(t, err)
		assert.Equal(t, expected, actual, "%s", data)
	}

	assert.Greater(t, fast, 2000, "the fast path should take most documents")
}

func TestFastDecodingFailsWhereFerretDBDecodingFails(t *testing.T) {
	t.Parallel()

	for _, text := range []string{
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"a":"x"}`,
		`{ "$s" : { "p" : { "a" : { "t" : "int" } } , "$k" : [ "a" ] } , "a" : 7 }`,
		`{"$s":{"p":{"a":{"t":"string"},"b":{"t":"long"}},"$k":["a","b"]},"b":1,"a":"x"}`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"a":"x","a":"y"}`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"\u0061":"x"}`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"a":"\u00e9"}`,
		`{"$s":{"p":{"a":{"t":"int"}},"$k":["a"]},"a":1.0}`,
		`{"$s":{"p":{"a":{"t":"int"}},"$k":["a"]},"a":4294967296}`,
		`{"$s":{"p":{"a":{"t":"double"}},"$k":["a"]},"a":NaN}`,
		`{"$s":{"p":{"a":{"t":"double"}},"$k":["a"]},"a":1e400}`,
		`{"$s":{"p":{"a":{"t":"bool"}},"$k":["a"]},"a":1}`,
		`{"$s":{"p":{"a":{"t":"object","$s":{"p":{"b":{"t":"string"}},"$k":["b"]}}},"$k":["a"]},"a":{"b":"x"}}`,
		`{"$s":{"p":{"a":{"t":"object","$s":{}}},"$k":["a"]},"a":{}}`,
		`{"$s":{"p":{"a":{"t":"array","i":[]}},"$k":["a"]},"a":[]}`,
		`{"$s":{"p":{"a":{"t":"array","i":[{"t":"string"}]}},"$k":["a"]},"a":["x","y"]}`,
		`{"$s":{"p":{"a":{"t":"array","i":[{"t":"string"}]}},"$k":["a"]},"a":["x"}`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"a":"x"} trailing`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"],"extra":1},"a":"x"}`,
		`{"a":"x","$s":{"p":{"a":{"t":"string"}},"$k":["a"]}}`,
		`{"$s":{},"a":"x"}`,
		`{"$s":{}}`,
		`{}`,
		`[]`,
	} {
		expected, expectedErr := slowUnmarshal([]byte(text))
		actual, actualErr := Unmarshal([]byte(text))

		if expectedErr != nil {
			assert.Error(t, actualErr, text)
			continue
		}

		require.NoError(t, actualErr, text)
		assert.Equal(t, expected, actual, text)
	}
}
