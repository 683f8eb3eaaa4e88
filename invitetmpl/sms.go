package invitetmpl

import (
	"strings"
	"unicode/utf8"
)

// Encoding is the character encoding an SMS is sent in.
type Encoding string

// The SMS encodings. GSM7 is the GSM 03.38 default alphabet with its
// extension table; any other character makes the whole message UCS2.
const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// Segment sizes: a message that fits one segment may use all of it; a
// longer one is split into parts that each give up room for the
// concatenation header.
const (
	GSM7Single = 160 // septets in a single GSM-7 message
	GSM7Part   = 153 // septets per part of a concatenated GSM-7 message
	UCS2Single = 70  // UTF-16 code units in a single UCS-2 message
	UCS2Part   = 67  // UTF-16 code units per part of a concatenated UCS-2 message
)

// SMS is a rendered text message and how it will travel.
type SMS struct {
	Body string
	// Encoding is GSM7 when every character of Body is in the GSM-7
	// alphabet, else UCS2.
	Encoding Encoding
	// Length is Body's length in the encoding's units: septets for GSM-7
	// (an extension-table character such as € or { counts two), UTF-16
	// code units for UCS-2 (a character outside the Basic Multilingual
	// Plane, such as most emoji, counts two).
	Length int
	// Segments is the number of messages Body is sent as: 0 for an empty
	// body, 1 up to the single-message size, else the parts of a
	// concatenated message. An extension character's two septets or a
	// surrogate pair are never split across parts, so a part may hold one
	// unit less than its size.
	Segments int
}

// gsm7Basic is the GSM 03.38 default alphabet without the escape
// character; gsm7Ext the characters of its extension table (two septets
// each: the escape and the character).
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "\f^{}\\[~]|€"
)

// gsm7Septets is the number of septets r takes in GSM-7: 1 or 2, or 0
// when r is not in the alphabet.
func gsm7Septets(r rune) int {
	if r < 0x7f && r != 0x60 && (r >= 0x20 || r == '\n' || r == '\r' || r == '\f') {
		// Printable ASCII is in the basic set except '`' (0x60) and the
		// extension-table characters.
		switch r {
		case '^', '{', '}', '\\', '[', '~', ']', '|', '\f':
			return 2
		}
		return 1
	}
	switch {
	case strings.ContainsRune(gsm7Basic, r):
		return 1
	case strings.ContainsRune(gsm7Ext, r):
		return 2
	}
	return 0
}

// ucs2Units is the number of UTF-16 code units r takes.
func ucs2Units(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// Measure returns body with its encoding, length and segment count (see
// SMS). Invalid UTF-8 counts as U+FFFD, which is outside GSM-7.
func Measure(body string) SMS {
	enc, single, part, units := GSM7, GSM7Single, GSM7Part, gsm7Septets
	for _, r := range body {
		if gsm7Septets(r) == 0 {
			enc, single, part, units = UCS2, UCS2Single, UCS2Part, ucs2Units
			break
		}
	}
	length := 0
	for _, r := range body {
		length += units(r)
	}
	s := SMS{Body: body, Encoding: enc, Length: length}
	switch {
	case length == 0:
	case length <= single:
		s.Segments = 1
	default:
		s.Segments = 1
		fill := 0
		for _, r := range body {
			u := units(r)
			if fill+u > part {
				s.Segments++
				fill = 0
			}
			fill += u
		}
	}
	return s
}
