package invitetmpl_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite/invitetmpl"
)

func TestMeasure(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		enc      invitetmpl.Encoding
		length   int
		segments int
	}{
		{"empty", "", invitetmpl.GSM7, 0, 0},
		{"one character", "a", invitetmpl.GSM7, 1, 1},
		{"160 GSM-7", strings.Repeat("a", 160), invitetmpl.GSM7, 160, 1},
		{"161 GSM-7", strings.Repeat("a", 161), invitetmpl.GSM7, 161, 2},
		{"306 GSM-7", strings.Repeat("a", 306), invitetmpl.GSM7, 306, 2},
		{"307 GSM-7", strings.Repeat("a", 307), invitetmpl.GSM7, 307, 3},
		{"GSM-7 accents", "Grüße, Çava, é, ñ, Å, ß, Δ", invitetmpl.GSM7, 26, 1},
		{"extension characters count two", "€{}[]~\\|^", invitetmpl.GSM7, 18, 1},
		{"80 euro signs", strings.Repeat("€", 80), invitetmpl.GSM7, 160, 1},
		{"81 euro signs", strings.Repeat("€", 81), invitetmpl.GSM7, 162, 2},
		// 152 a then € : the escape pair does not fit the first part's
		// last septet, so it moves to the second part.
		{"escape pair not split", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 150), invitetmpl.GSM7, 304, 2},
		{"escape pair not split, third part", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), invitetmpl.GSM7, 306, 3},
		{"backtick is not GSM-7", "a`b", invitetmpl.UCS2, 3, 1},
		{"ç is not GSM-7 lower case", "ç", invitetmpl.UCS2, 1, 1},
		{"70 Arabic", strings.Repeat("ع", 70), invitetmpl.UCS2, 70, 1},
		{"71 Arabic", strings.Repeat("ع", 71), invitetmpl.UCS2, 71, 2},
		{"134 Arabic", strings.Repeat("ع", 134), invitetmpl.UCS2, 134, 2},
		{"135 Arabic", strings.Repeat("ع", 135), invitetmpl.UCS2, 135, 3},
		{"one Arabic letter switches it all", strings.Repeat("a", 100) + "ع", invitetmpl.UCS2, 101, 2},
		{"emoji are two code units", strings.Repeat("😀", 35), invitetmpl.UCS2, 70, 1},
		{"surrogate pair not split", strings.Repeat("a", 66) + "😀" + "a", invitetmpl.UCS2, 69, 1},
		{"surrogate pair not split across parts", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 10), invitetmpl.UCS2, 78, 2},
		{"surrogate pair moves to the next part", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 66), invitetmpl.UCS2, 134, 3},
		{"invalid UTF-8", "a\xffb", invitetmpl.UCS2, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := invitetmpl.Measure(tt.body)
			assert.Equal(t, invitetmpl.SMS{Body: tt.body, Encoding: tt.enc, Length: tt.length, Segments: tt.segments}, got)
		})
	}
}

// gsm7 is the GSM 03.38 basic alphabet (without the escape) and extension
// table, written out independently of the implementation.
var gsm7Basic = []rune("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")

var gsm7Ext = []rune("\f^{}\\[~]|€")

func TestGSM7Alphabet(t *testing.T) {
	require.Len(t, gsm7Basic, 127, "128 code points without the escape")
	require.Len(t, gsm7Ext, 10)
	for _, r := range gsm7Basic {
		s := invitetmpl.Measure(string(r))
		assert.Equal(t, invitetmpl.GSM7, s.Encoding, "%q", r)
		assert.Equal(t, 1, s.Length, "%q", r)
	}
	for _, r := range gsm7Ext {
		s := invitetmpl.Measure(string(r))
		assert.Equal(t, invitetmpl.GSM7, s.Encoding, "%q", r)
		assert.Equal(t, 2, s.Length, "%q", r)
	}
	// Every other code point below U+0800 is outside GSM-7.
	in := map[rune]bool{}
	for _, r := range append(append([]rune{}, gsm7Basic...), gsm7Ext...) {
		in[r] = true
	}
	for r := rune(0); r < 0x800; r++ {
		if !in[r] {
			assert.Equal(t, invitetmpl.UCS2, invitetmpl.Measure(string(r)).Encoding, "%U", r)
		}
	}
}

// FuzzMeasure checks the segment counter's invariants on any text.
func FuzzMeasure(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 161), strings.Repeat("€", 81), "ع", strings.Repeat("😀", 40),
		strings.Repeat("a", 152) + "€", "a\xffb", "`", strings.Repeat("ab{", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s := invitetmpl.Measure(body)
		require.Equal(t, body, s.Body)
		gsm, septets := true, 0
		for _, r := range body {
			switch {
			case slices.Contains(gsm7Basic, r):
				septets++
			case slices.Contains(gsm7Ext, r):
				septets += 2
			default:
				gsm = false
			}
		}
		single, part := invitetmpl.UCS2Single, invitetmpl.UCS2Part
		if gsm {
			require.Equal(t, invitetmpl.GSM7, s.Encoding)
			require.Equal(t, septets, s.Length)
			single, part = invitetmpl.GSM7Single, invitetmpl.GSM7Part
		} else {
			require.Equal(t, invitetmpl.UCS2, s.Encoding)
			require.Equal(t, len(utf16.Encode([]rune(body))), s.Length)
		}
		switch {
		case s.Length == 0:
			require.Zero(t, s.Segments)
		case s.Length <= single:
			require.Equal(t, 1, s.Segments)
		default:
			// At least the length in full parts, at most one unit lost per
			// part to a pair that did not fit.
			require.GreaterOrEqual(t, s.Segments, ceil(s.Length, part))
			require.LessOrEqual(t, s.Segments, ceil(s.Length, part-1))
		}
	})
}

func ceil(a, b int) int { return (a + b - 1) / b }
