package sqlstore

import "testing"

func TestHasNULEscape(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"b"}`:            false,
		`{"a":"\u0000"}`:       true,
		`{"a":"x\u0000y"}`:     true,
		`{"a":"\\u0000"}`:      false, // an escaped backslash, then u0000
		`{"a":"\\\u0000"}`:     true,
		`{"a":"\u00000"}`:      true,
		`{"a":"\u0001"}`:       false,
		`{"\\u0000":"\u0000"}`: true,
		`\u000`:                false,
	} {
		if got := hasNULEscape([]byte(in)); got != want {
			t.Errorf("hasNULEscape(%s) = %v, want %v", in, got, want)
		}
	}
}
