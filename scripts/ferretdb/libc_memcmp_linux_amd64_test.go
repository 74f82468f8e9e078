// The faster memcmp (crm_memcmp_linux_amd64.go, added by the CRM platform's build of
// FerretDB) has the sign of the translated one for random and near-equal inputs.

package libc

import (
	"math/rand"
	"testing"
	"unsafe"
)

func TestFastMemcmpHasTheSignOfTheTranslatedOne(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	sign := func(v int32) int32 {
		switch {
		case v < 0:
			return -1
		case v > 0:
			return 1
		}
		return 0
	}

	for i := 0; i < 20000; i++ {
		n := r.Intn(3000)
		a := make([]byte, n+1)
		r.Read(a)
		b := append([]byte(nil), a...)

		if n > 0 && r.Intn(4) != 0 {
			b[r.Intn(n)] = byte(r.Intn(256)) // equal but for one byte, or not at all
		}

		if r.Intn(8) == 0 {
			r.Read(b)
		}

		pa := uintptr(unsafe.Pointer(&a[0]))
		pb := uintptr(unsafe.Pointer(&b[0]))
		m := Tsize_t(r.Intn(n + 1))

		if got, want := Xmemcmp(nil, pa, pb, m), sign(slowMemcmp(nil, pa, pb, m)); got != want {
			t.Fatalf("n=%d: memcmp %d, translated %d", m, got, want)
		}
	}
}
