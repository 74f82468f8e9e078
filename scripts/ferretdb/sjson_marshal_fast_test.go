// The fast encoding path (marshal_fast.go, added by the CRM platform's build of FerretDB)
// writes the bytes FerretDB's own encoder writes, and fails or panics where it does:
// random documents of every type (fast_test.go's, and more numbers and strings), then
// the values the fast path hands over, encoded both ways.

package sjson

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var marshalDoubles = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 1e20, 1e21, 1e22, 123456789012345678901234.0,
	1e-6, 9.99999e-7, 1e-7, 5e-324, math.MaxFloat64, -math.MaxFloat64, 1e-300, -2.5e-10,
	math.Pi, 1 << 53, 1<<53 + 1, -123.456e-5,
}

var marshalStrings = []string{
	"", "plain", "x<y", "a&b", "c>d", `q"uote`, `b\ack`, "\t\n\r\b\f", "\x00\x1f\x7f",
	"é", "日本語", "😀", "\u2028\u2029", "bad \xff utf8", "$k", "p", "t", "a.b",
}

func randomMarshalValue(r *rand.Rand, depth int) any {
	switch r.Intn(6) {
	case 0:
		return marshalDoubles[r.Intn(len(marshalDoubles))]
	case 1:
		return marshalStrings[r.Intn(len(marshalStrings))]
	case 2:
		return math.Float64frombits(r.Uint64()) // any double, NaN and infinities included
	case 3:
		return types.Regex{Pattern: marshalStrings[r.Intn(len(marshalStrings))], Options: "i"}
	case 4:
		return types.Binary{Subtype: types.BinarySubtype(r.Intn(9)), B: []byte{byte(r.Intn(256))}}
	default:
		return randomValue(r, depth)
	}
}

func randomMarshalDoc(r *rand.Rand) *types.Document {
	doc := must.NotFail(types.NewDocument())
	doc.Set("_id", marshalStrings[r.Intn(len(marshalStrings))])

	for i := r.Intn(20); i > 0; i-- {
		key := "k" + string(rune('a'+i))
		if r.Intn(8) == 0 {
			key = marshalStrings[r.Intn(len(marshalStrings))] + key
		}
		value := randomMarshalValue(r, 0)

		if r.Intn(4) == 0 {
			arr := types.MakeArray(2)
			arr.Append(value, randomMarshalValue(r, 3))
			value = arr
		}

		doc.Set(key, value)
	}

	return doc
}

func TestFastEncodingEqualsFerretDBEncoding(t *testing.T) {
	t.Parallel()

	r := rand.New(rand.NewSource(17))
	fast := 0

	for n := 0; n < 5000; n++ {
		doc := randomMarshalDoc(r)

		expected, expectedErr := slowMarshal(doc)
		actual, actualErr := Marshal(doc)

		_, took := fastMarshal(doc)
		if took {
			fast++
		}

		if expectedErr != nil {
			assert.Error(t, actualErr)
			continue
		}

		require.NoError(t, actualErr)
		require.Equal(t, string(expected), string(actual))

		if took {
			// And what the fast path writes reads back.
			_, err := Unmarshal(actual)
			require.NoError(t, err)
		}
	}

	assert.Greater(t, fast, 2000, "the fast path should take most documents")
}

func TestFastEncodingOfEachValue(t *testing.T) {
	t.Parallel()

	values := []any{types.Null, true, false, int32(math.MinInt32), int64(math.MaxInt64),
		types.Timestamp(math.MaxUint64), must.NotFail(types.NewDocument()), types.MakeArray(0)}
	for _, f := range marshalDoubles {
		values = append(values, f, -f)
	}

	for _, s := range marshalStrings {
		values = append(values, s)
	}

	for _, v := range values {
		doc := must.NotFail(types.NewDocument("_id", "x", "v", v))

		expected, err := slowMarshal(doc)
		require.NoError(t, err)

		actual, ok := fastMarshal(doc)
		require.True(t, ok, "%#v", v)
		assert.Equal(t, string(expected), string(actual), "%#v", v)
	}
}

func TestFastEncodingLeavesTheRestToFerretDB(t *testing.T) {
	t.Parallel()

	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		doc := must.NotFail(types.NewDocument("_id", "x", "v", v))

		_, ok := fastMarshal(doc)
		assert.False(t, ok)

		_, expectedErr := slowMarshal(doc)
		_, actualErr := Marshal(doc)
		assert.Error(t, expectedErr)
		assert.Error(t, actualErr)
	}

	// A repeated key, at the top or nested: FerretDB's encoder panics, so does Marshal.
	repeated := must.NotFail(types.NewDocument("_id", "x", "a", int32(1), "a", int32(2)))
	nested := must.NotFail(types.NewDocument("_id", "x", "d", repeated))

	for _, doc := range []*types.Document{repeated, nested} {
		_, ok := fastMarshal(doc)
		assert.False(t, ok)
		assert.Panics(t, func() { _, _ = slowMarshal(doc) })
		assert.Panics(t, func() { _, _ = Marshal(doc) })
	}

	// A top-level key encoding/json would escape: FerretDB writes it unescaped.
	odd := must.NotFail(types.NewDocument("_id", "x", `a"b`, int32(1)))
	_, ok := fastMarshal(odd)
	assert.False(t, ok)
	assert.Equal(t, must.NotFail(slowMarshal(odd)), must.NotFail(Marshal(odd)))
}

func BenchmarkMarshal(b *testing.B) {
	doc := must.NotFail(types.NewDocument("_id", "d000000001", "workspace_id", "w"))
	for k := 0; k < 40; k++ {
		doc.Set("field_"+string(rune('a'+k%26))+string(rune('a'+k/26)), "value of the deal")
	}

	doc.Set("amount_minor", int64(12345600))
	doc.Set("contact_ids", must.NotFail(types.NewArray("p1", "p2")))

	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = Marshal(doc)
		}
	})

	b.Run("FerretDB", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = slowMarshal(doc)
		}
	})
}
