package events

import (
	"bytes"
	"testing"
)

// FuzzReadObject checks that the byte walk readObject takes on valid
// JSON finds exactly what encoding/json's decoder finds: the same members,
// first occurrences, and the same duplicate.
func FuzzReadObject(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"id":"a","id":"b"}`, ` { "type" : "x" , "data" : {"a":[1,{"b":"}"}]} } `,
		`{"i\u0064":"escaped name","source":"s\"q"}`, `{"data":null,"time":12.5e3,"id":true}`,
		`{"x":[[]],"id":"\u00e9\ud83d\ude00"}`, `[1]`, `"id"`, `{"id":"a"} {}`,
	} {
		f.Add([]byte(seed))
	}
	names := []string{"id", "source", "type", "time", "data"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotDup, gotErr := readObject(raw, "body", names...)
		want, wantDup, wantErr := decodeObject(raw, "body", names)
		if (gotErr == nil) != (wantErr == nil) || gotDup != wantDup {
			t.Fatalf("readObject(%q) = dup %q err %v, decoder: dup %q err %v", raw, gotDup, gotErr, wantDup, wantErr)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
				t.Fatalf("readObject(%q): %s = %q, decoder: %q", raw, names[i], got[i], want[i])
			}
		}
	})
}
