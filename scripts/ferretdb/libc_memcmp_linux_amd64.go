// A faster memcmp for the SQLite that FerretDB runs (modernc.org/libc, the C library of
// modernc.org/sqlite's translation of SQLite to Go), added by the CRM platform's build of
// FerretDB (scripts/install-ferretdb.sh). Not part of modernc.org/libc as published.
//
// The translated memcmp compares byte by byte. SQLite calls it to compare index keys and,
// for each JSON path expression of an index (`_ferretdb_sjson->'_id'`, one per indexed
// field), to find the row's already parsed document in its JSON cache: a compare of the
// whole document text, ~2 KB for a deal. A profile of an import's insert_many put 8 % of
// FerretDB's CPU in it. bytes.Compare does the same comparison a word or more at a time.
// C only promises memcmp's sign, and SQLite only reads the sign.

package libc

import (
	"bytes"
	"unsafe"
)

func Xmemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) int32 {
	if n == 0 {
		return 0
	}

	l := unsafe.Slice((*byte)(unsafe.Pointer(vl)), n)
	r := unsafe.Slice((*byte)(unsafe.Pointer(vr)), n)

	return int32(bytes.Compare(l, r))
}
