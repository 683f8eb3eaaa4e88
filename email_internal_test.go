package invite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSimpleEmail checks simpleEmail, the shortcut NormalizeEmail takes
// before net/mail: every address it accepts must be one the full parse
// accepts too, unchanged.
func FuzzSimpleEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "a.b+c@x.io", "a..b@x.io", ".a@x.io", "a@x", "a@-x.com",
		"a@x..io", "a@x.io.", `"a b"@x.io`, "a@[1.2.3.4]", "Ada <a@x.io>", "a@b@x.io", "ä@x.io", "a@x_y.io",
		"!#$%&'*+-/=?^_`{|}~@x.io", "a@1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if simpleEmail(s) && !parsedEmail(s) {
			t.Fatalf("simpleEmail accepts %q, net/mail does not", s)
		}
	})
}

func TestSimpleEmail(t *testing.T) {
	for s, want := range map[string]bool{
		"ada@example.com": true, "A.B+tag@Sub.Example.IO": true, "x@1.2": true,
		"ada@example": false, "a..b@x.io": false, ".a@x.io": false, "a.@x.io": false, "a@.x.io": false,
		"a@x.io.": false, "a@x..io": false, `"a b"@x.io`: false, "a@[1.2.3.4]": false, "a@b@x.io": false,
		"ä@x.io": false, "a@x_y.io": false, "@x.io": false, "a@": false, "": false,
	} {
		require.Equal(t, want, simpleEmail(s), s)
		if want {
			require.True(t, parsedEmail(s), s)
		}
	}
}
