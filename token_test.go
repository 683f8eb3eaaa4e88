package invite_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

const alphabet62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// refBase62 is an independent (math/big) base62 encoder: v as exactly width
// digits, most significant first.
func refBase62(v *big.Int, width int) string {
	out := make([]byte, width)
	n := new(big.Int).Set(v)
	mod := new(big.Int)
	base := big.NewInt(62)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet62[mod.Int64()]
	}
	if n.Sign() != 0 {
		panic("refBase62: value does not fit")
	}
	return string(out)
}

// refDecode62 decodes base62 digits with math/big.
func refDecode62(s string) *big.Int {
	n := new(big.Int)
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(alphabet62, s[i])
		if d < 0 {
			panic("refDecode62: bad digit")
		}
		n.Mul(n, big.NewInt(62))
		n.Add(n, big.NewInt(int64(d)))
	}
	return n
}

// refToken builds the token for 32 random bytes the way the format
// describes it, independently of the library: the prefix, each big-endian
// 64-bit word of raw as 11 base62 digits (44 in all), and the CRC32-IEEE of
// everything before it as 6 base62 digits.
//
// The issue text asked for the 256-bit number as 43 digits; the lead changed
// the format to 44 word-wise digits (see token.go and README.md), and these
// tests follow the code as documented there.
func refToken(prefix string, raw [32]byte) string {
	s := prefix
	for w := range 4 {
		s += refBase62(new(big.Int).SetBytes(raw[w*8:w*8+8]), 11)
	}
	return s + refBase62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s)))), 6)
}

func TestMintTokenFormat(t *testing.T) {
	for _, prefix := range []string{invite.DefaultTokenPrefix, "x", "acme_live_", "ABCDEFGHIJ_12345"} {
		t.Run(prefix, func(t *testing.T) {
			require.Equal(t, len(prefix)+44+6, invite.TokenLength(prefix))
			seen := map[string]bool{}
			for range 200 {
				tok, hash := mintToken(t, prefix)
				s := tok.Reveal()
				require.Len(t, s, invite.TokenLength(prefix))
				require.True(t, strings.HasPrefix(s, prefix))
				body := s[len(prefix) : len(prefix)+44]
				for _, c := range body + s[len(s)-6:] {
					require.Contains(t, alphabet62, string(c))
				}
				// Each 11-digit group is one 64-bit word; rebuilt by the
				// independent encoder, the token comes out the same,
				// checksum included.
				var raw [32]byte
				for w := range 4 {
					v := refDecode62(body[w*11 : w*11+11])
					require.LessOrEqual(t, v.BitLen(), 64)
					v.FillBytes(raw[w*8 : w*8+8])
				}
				require.Equal(t, refToken(prefix, raw), s)
				// Only the SHA-256 of the whole token is the hash.
				require.Equal(t, invite.TokenHash(sha256.Sum256([]byte(s))), hash)
				parsed, err := invite.ParseToken(prefix, s)
				require.NoError(t, err)
				require.True(t, parsed.Equal(hash))
				require.False(t, seen[s], "duplicate token")
				seen[s] = true
			}
		})
	}
}

func TestMintTokenUsesWholeRange(t *testing.T) {
	// Random words: the leading digit of each group varies over 200 tokens
	// (a constant digit would mean bytes are not used), and every digit
	// position takes many values.
	n := invite.TokenLength(invite.DefaultTokenPrefix)
	seen := make([]map[byte]bool, n)
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range 200 {
		tok, _ := mintToken(t, invite.DefaultTokenPrefix)
		for i := range n {
			seen[i][tok.Reveal()[i]] = true
		}
	}
	for i := len(invite.DefaultTokenPrefix); i < n; i++ {
		require.Greater(t, len(seen[i]), 1, "position %d never changes", i)
	}
}

func TestParseTokenAcceptsReferenceTokens(t *testing.T) {
	var zero, ones, mixed [32]byte
	for i := range ones {
		ones[i] = 0xFF
		mixed[i] = byte(i * 37)
	}
	for _, raw := range [][32]byte{zero, ones, mixed} {
		s := refToken(invite.DefaultTokenPrefix, raw)
		h, err := invite.ParseToken(invite.DefaultTokenPrefix, s)
		require.NoError(t, err)
		require.Equal(t, invite.TokenHash(sha256.Sum256([]byte(s))), h)
	}
}

func TestParseTokenRejects(t *testing.T) {
	tok, _ := mintToken(t, invite.DefaultTokenPrefix)
	valid := tok.Reveal()
	body := valid[4:]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string]struct {
		prefix, token string
	}{
		"empty":                {"inv_", ""},
		"prefix only":          {"inv_", "inv_"},
		"wrong prefix":         {"inv_", "inx_" + body},
		"upper-case prefix":    {"inv_", "INV_" + body},
		"no prefix":            {"inv_", body},
		"other configured":     {"acme_", valid},
		"one short":            {"inv_", valid[:len(valid)-1]},
		"one long":             {"inv_", valid + "0"},
		"leading space":        {"inv_", " " + valid[:len(valid)-1]},
		"trailing newline":     {"inv_", valid + "\n"},
		"dash in body":         {"inv_", valid[:10] + "-" + valid[11:]},
		"plus in body":         {"inv_", valid[:10] + "+" + valid[11:]},
		"underscore in body":   {"inv_", valid[:10] + "_" + valid[11:]},
		"NUL in body":          {"inv_", valid[:10] + "\x00" + valid[11:]},
		"high byte in body":    {"inv_", valid[:10] + "\xff" + valid[11:]},
		"bad checksum":         {"inv_", flip(valid, len(valid)-1)},
		"first checksum digit": {"inv_", flip(valid, len(valid)-6)},
		"body changed":         {"inv_", flip(valid, 4)},
		"last body digit":      {"inv_", flip(valid, len(valid)-7)},
		"swapped halves":       {"inv_", "inv_" + body[20:] + body[:20]},
		"prefix too long":      {"abcdefghijklmnopq", "abcdefghijklmnopq" + body},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := invite.ParseToken(c.prefix, c.token)
			require.ErrorIs(t, err, invite.ErrInvalidToken)
			require.True(t, h.IsZero())
			if len(c.token) > 8 {
				require.NotContains(t, err.Error(), c.token[4:12], "error echoes the input")
			}
		})
	}
}

// TestParseTokenEverySubstitution changes every character of a token to
// every other character of the alphabet: CRC32 catches each one.
func TestParseTokenEverySubstitution(t *testing.T) {
	tok, _ := mintToken(t, invite.DefaultTokenPrefix)
	s := tok.Reveal()
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(alphabet62); j++ {
			if s[i] == alphabet62[j] {
				continue
			}
			b := []byte(s)
			b[i] = alphabet62[j]
			_, err := invite.ParseToken(invite.DefaultTokenPrefix, string(b))
			require.ErrorIs(t, err, invite.ErrInvalidToken, "position %d -> %c", i, alphabet62[j])
		}
	}
}

func TestMalformedTokensNeverReachTheStore(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	valid := res.Token.Reveal()
	bad := valid[:len(valid)-1] + "A" // a checksum typo
	if bad == valid {
		bad = valid[:len(valid)-1] + "B"
	}
	for _, tok := range []string{"inv_", "garbage", bad, strings.ToUpper(valid), valid + " "} {
		_, err := e.m.Lookup(e.ctx(), tok)
		require.ErrorIs(t, err, invite.ErrInvalidToken)
		_, err = e.m.Accept(e.ctx(), tok, invite.AcceptInput{Subject: "u1"})
		require.ErrorIs(t, err, invite.ErrInvalidToken)
		_, err = e.m.Reject(e.ctx(), tok, "")
		require.ErrorIs(t, err, invite.ErrInvalidToken)
	}
	require.Zero(t, e.store.byToken.Load(), "a malformed token reached the store")

	// A well-formed token of no invitation does reach it and is
	// ErrInvalidToken too.
	other, _ := mintToken(t, invite.DefaultTokenPrefix)
	_, err := e.m.Lookup(e.ctx(), other.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	require.EqualValues(t, 1, e.store.byToken.Load())
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)
}

func TestCustomTokenPrefix(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.TokenPrefix = "acme_live_" })
	res := e.create(input("ada@example.com"))
	s := res.Token.Reveal()
	require.True(t, strings.HasPrefix(s, "acme_live_"))
	_, err := e.m.Lookup(e.ctx(), s)
	require.NoError(t, err)
	// The same token under the default prefix is malformed.
	_, err = e.m.Lookup(e.ctx(), "inv_"+s[len("acme_live_"):])
	require.ErrorIs(t, err, invite.ErrInvalidToken)
}

func TestMintCode(t *testing.T) {
	for _, n := range []int{6, 8, 16} {
		code, hash := mintCode(t, n, invitetest.FastCodeHash)
		c := code.Reveal()
		require.Len(t, c, n)
		for _, r := range c {
			require.Contains(t, invite.CodeAlphabet, string(r))
		}
		require.True(t, strings.HasPrefix(string(hash), fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$", argon2.Version)), string(hash))
		require.NotContains(t, string(hash), c)
		ok, err := invite.CheckCodeHash(hash, c)
		require.NoError(t, err)
		require.True(t, ok)
		wrong := []byte(c)
		wrong[0] = invite.CodeAlphabet[(strings.IndexByte(invite.CodeAlphabet, wrong[0])+1)%len(invite.CodeAlphabet)]
		ok, err = invite.CheckCodeHash(hash, string(wrong))
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = invite.CheckCodeHash(hash, "")
		require.NoError(t, err)
		require.False(t, ok)
	}
	// Salted: the same code never hashes the same twice.
	_, h1 := mintCode(t, 8, invitetest.FastCodeHash)
	_, h2 := mintCode(t, 8, invitetest.FastCodeHash)
	require.NotEqual(t, h1, h2)
}

func TestMintCodeAlphabetCoverage(t *testing.T) {
	seen := map[rune]bool{}
	for range 100 {
		code, _ := mintCode(t, 16, invite.CodeHashParams{Time: 1, MemoryKiB: 8, Threads: 1})
		for _, r := range code.Reveal() {
			seen[r] = true
		}
	}
	// 1,600 symbols drawn from 32: every symbol shows up.
	require.Len(t, seen, len(invite.CodeAlphabet))
	for _, c := range "01OI" {
		require.False(t, seen[c], "confusable %c in a code", c)
	}
}

func TestMintCodeZeroParamsUseDefaults(t *testing.T) {
	_, hash := mintCode(t, 8, invite.CodeHashParams{})
	p := invite.DefaultCodeHashParams
	require.Contains(t, string(hash), fmt.Sprintf("$m=%d,t=%d,p=%d$", p.MemoryKiB, p.Time, p.Threads))
}

func TestNormalizeCode(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"ABCD2345", "ABCD2345", true},
		{"abcd-2345", "ABCD2345", true},
		{" ab cd 23 45 ", "ABCD2345", true},
		{"zz-zz", "ZZZZ", true},
		{"", "", false},
		{" - ", "", false},
		{"ABCD0123", "", false}, // 0 and 1 are not in the alphabet
		{"ABCDOI", "", false},
		{"ABCD_234", "", false},
		{"ÄBCD2345", "", false},
		{"ABCD\n2345", "", false},
	}
	for _, c := range cases {
		got, ok := invite.NormalizeCode(c.in)
		require.Equal(t, c.ok, ok, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

// phc builds an argon2id hash string of code with the given parts, so tests
// can craft hashes CheckCodeHash must accept or refuse.
func phc(code string, v, m, tt, p int, salt []byte, keyLen int) string {
	enc := base64.RawStdEncoding
	key := []byte{}
	if m >= 8 && tt >= 1 && p >= 1 && m <= 4096 && keyLen > 0 {
		key = argon2.IDKey([]byte(code), salt, uint32(tt), uint32(m), uint8(p), uint32(keyLen))
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", v, m, tt, p, enc.EncodeToString(salt), enc.EncodeToString(key))
}

func TestCheckCodeHashAcceptsStandardPHC(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, c := range []struct{ m, t, p, keyLen int }{{64, 1, 1, 32}, {64, 2, 2, 16}, {32, 3, 4, 64}} {
		h := phc("ABCDEFGH", argon2.Version, c.m, c.t, c.p, salt, c.keyLen)
		ok, err := invite.CheckCodeHash([]byte(h), "ABCDEFGH")
		require.NoError(t, err, h)
		require.True(t, ok, h)
		ok, err = invite.CheckCodeHash([]byte(h), "ABCDEFGX")
		require.NoError(t, err, h)
		require.False(t, ok, h)
	}
}

func TestCheckCodeHashRejectsMalformedHashes(t *testing.T) {
	salt := []byte("0123456789abcdef")
	good := phc("ABCDEFGH", argon2.Version, 64, 1, 1, salt, 32)
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	cases := map[string]string{
		"empty":             "",
		"garbage":           "not a hash",
		"argon2i":           with(1, "argon2i"),
		"argon2d":           with(1, "argon2d"),
		"bcrypt":            "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"old version":       with(2, "v=16"),
		"no version":        with(2, ""),
		"version junk":      with(2, "v=19x"),
		"version zero pad":  with(2, "v=019"),
		"version plus":      with(2, "v=+19"),
		"version space":     with(2, "v= 19"),
		"extra part":        good + "$x",
		"missing part":      strings.Join(parts[:5], "$"),
		"leading text":      "x" + good,
		"m zero":            with(3, "m=0,t=1,p=1"),
		"m below 8p":        with(3, "m=15,t=1,p=2"),
		"m huge":            with(3, "m=4294967295,t=1,p=1"),
		"m over bound":      with(3, "m=65537,t=1,p=1"),
		"cost over bound":   with(3, "m=65536,t=5,p=1"),
		"t zero":            with(3, "m=64,t=0,p=1"),
		"t huge":            with(3, "m=64,t=4294967295,p=1"),
		"p zero":            with(3, "m=64,t=1,p=0"),
		"p overflow":        with(3, "m=64,t=1,p=256"),
		"p over bound":      with(3, "m=1024,t=1,p=17"),
		"negative m":        with(3, "m=-64,t=1,p=1"),
		"leading zero":      with(3, "m=064,t=1,p=1"),
		"plus sign":         with(3, "m=+64,t=1,p=1"),
		"reordered":         with(3, "t=1,m=64,p=1"),
		"trailing junk":     with(3, "m=64,t=1,p=1,x=2"),
		"spaces":            with(3, "m=64, t=1, p=1"),
		"salt padded":       with(4, parts[4]+"=="),
		"salt bad base64":   with(4, "!!!!!!!!!!!!"),
		"salt too short":    with(4, base64.RawStdEncoding.EncodeToString([]byte("short"))),
		"salt too long":     with(4, base64.RawStdEncoding.EncodeToString(make([]byte, 65))),
		"key too short":     with(5, base64.RawStdEncoding.EncodeToString(make([]byte, 15))),
		"key too long":      with(5, base64.RawStdEncoding.EncodeToString(make([]byte, 65))),
		"key bad base64":    with(5, "@@@@"),
		"key empty":         with(5, ""),
		"NUL inside":        with(3, "m=64\x00,t=1,p=1"),
		"huge t and memory": with(3, fmt.Sprintf("m=%d,t=32,p=1", 1<<20)),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := invite.CheckCodeHash([]byte(h), "ABCDEFGH")
			require.Error(t, err)
			require.False(t, ok)
			require.NotContains(t, err.Error(), "ABCDEFGH")
		})
	}
}

// TestMintRefusesBadArguments: caller input never panics; it is a
// *ValidationError naming the argument.
func TestMintRefusesBadArguments(t *testing.T) {
	for _, prefix := range []string{"", "ABCDEFGHIJ_123456", "inv-", "ïnv_"} {
		_, _, err := invite.MintToken(prefix)
		requireValidation(t, err, "Prefix")
	}
	cases := []struct {
		n     int
		p     invite.CodeHashParams
		field string
	}{
		{-1, invitetest.FastCodeHash, "Length"},
		{0, invitetest.FastCodeHash, "Length"},
		{5, invitetest.FastCodeHash, "Length"},
		{17, invitetest.FastCodeHash, "Length"},
		{8, invite.CodeHashParams{Time: 1, MemoryKiB: 64}, "CodeHashParams"}, // zero threads
		{8, invite.CodeHashParams{Time: 1, MemoryKiB: 1 << 20, Threads: 1}, "CodeHashParams"},
	}
	for _, c := range cases {
		_, hash, err := invite.MintCode(c.n, c.p)
		requireValidation(t, err, c.field)
		require.Nil(t, hash)
	}
}
