package invite

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// refDepth is jsonDepth by encoding/json's tokenizer.
func refDepth(doc []byte) int {
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzJSONDepth: the byte scan agrees with the tokenizer on every valid
// document.
func FuzzJSONDepth(f *testing.F) {
	for _, s := range []string{`1`, `"a"`, `{}`, `[[]]`, `{"a":[1,{"b":"[{"}]}`, `"\"{"`, `["\\", {"x": "\\\"["}]`,
		strings.Repeat("[", 30) + strings.Repeat("]", 30)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		if got, want := jsonDepth(doc), refDepth(doc); got != want {
			t.Fatalf("jsonDepth(%q) = %d, want %d", doc, got, want)
		}
	})
}
