package invite

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/bits"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Token format: Prefix + base62(32 random bytes, 43 characters) +
// base62(CRC32-IEEE of everything before it, 6 characters). The prefix lets
// secret scanners match leaked tokens; the checksum rejects typos and garbage
// before any store lookup. Only the SHA-256 of the whole token is stored.
const (
	// DefaultTokenPrefix is Config.TokenPrefix's default.
	DefaultTokenPrefix = "inv_"
	tokenBodyLen       = 43 // ceil(256 / log2(62))
	tokenCheckLen      = 6  // ceil(32 / log2(62))
	maxTokenPrefixLen  = 16
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62Index maps a byte to its digit value, or 0xFF when it is not in the
// alphabet.
var base62Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = byte(i)
	}
	return t
}()

// Secret holds a plaintext secret (a link token, a short code, or a link
// that embeds one). It never prints its value through fmt, slog,
// encoding/json or encoding.TextMarshaler; call Reveal to get it. The zero
// Secret is empty.
type Secret struct{ p *string }

// NewSecret wraps s. It is exported for notifiers and tests that build
// messages by hand.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the plaintext. Send it to the invitee; never log it.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil }

const redacted = "[REDACTED]"

func (s Secret) String() string {
	if s.p == nil {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without the plaintext.
func (s Secret) GoString() string { return "invite.Secret{" + s.String() + "}" }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the plaintext.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler without the plaintext.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText implements encoding.TextMarshaler without the plaintext.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// TokenHash is the SHA-256 of a link token: what stores keep and index. It is
// not a secret that grants anything, but it is never printed either.
type TokenHash [sha256.Size]byte

// Format implements fmt.Formatter: every verb prints a redacted form.
func (h TokenHash) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "TokenHash"+redacted) }

// LogValue implements slog.LogValuer without the hash.
func (h TokenHash) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler without the hash.
func (h TokenHash) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// IsZero reports whether h is all zeroes (no token).
func (h TokenHash) IsZero() bool { return h == TokenHash{} }

// Equal compares two hashes in constant time.
func (h TokenHash) Equal(o TokenHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// MintToken mints a new link token with the given prefix and returns it with
// its hash. It reads 32 bytes from crypto/rand.
func MintToken(prefix string) (Secret, TokenHash) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	var buf [maxTokenPrefixLen + tokenBodyLen + tokenCheckLen]byte
	n := copy(buf[:], prefix)
	encodeBase62_256(buf[n:n+tokenBodyLen], &raw)
	n += tokenBodyLen
	encodeBase62_32(buf[n:n+tokenCheckLen], crc32.ChecksumIEEE(buf[:n]))
	n += tokenCheckLen
	h := TokenHash(sha256.Sum256(buf[:n]))
	return NewSecret(string(buf[:n])), h
}

// ParseToken checks a token's prefix, length, alphabet and checksum and
// returns its hash. Any defect is ErrInvalidToken; the message never echoes
// the input.
func ParseToken(prefix, token string) (TokenHash, error) {
	if len(token) != len(prefix)+tokenBodyLen+tokenCheckLen || len(prefix) > maxTokenPrefixLen ||
		!strings.HasPrefix(token, prefix) {
		return TokenHash{}, ErrInvalidToken
	}
	var buf [maxTokenPrefixLen + tokenBodyLen + tokenCheckLen]byte
	n := copy(buf[:], token)
	for _, c := range buf[len(prefix):n] {
		if base62Index[c] == 0xFF {
			return TokenHash{}, ErrInvalidToken
		}
	}
	var sum [tokenCheckLen]byte
	encodeBase62_32(sum[:], crc32.ChecksumIEEE(buf[:n-tokenCheckLen]))
	if subtle.ConstantTimeCompare(sum[:], buf[n-tokenCheckLen:n]) != 1 {
		return TokenHash{}, ErrInvalidToken
	}
	return TokenHash(sha256.Sum256(buf[:n])), nil
}

// encodeBase62_256 writes the 256-bit big-endian number in raw as exactly
// len(dst) (43) base62 digits, most significant first. It divides by 62^10
// (the largest power of 62 below 2^64) so each round costs four hardware
// divisions instead of going through math/big.
func encodeBase62_256(dst []byte, raw *[32]byte) {
	const chunk = 839299365868340224 // 62^10
	var limbs [4]uint64
	for i := range limbs {
		for j := 0; j < 8; j++ {
			limbs[i] = limbs[i]<<8 | uint64(raw[i*8+j])
		}
	}
	pos := len(dst)
	for pos > 0 {
		var rem uint64
		for i := range limbs {
			limbs[i], rem = bits.Div64(rem, limbs[i], chunk)
		}
		for k := 0; k < 10 && pos > 0; k++ {
			pos--
			dst[pos] = base62Alphabet[rem%62]
			rem /= 62
		}
	}
}

// encodeBase62_32 writes v as exactly len(dst) (6) base62 digits.
func encodeBase62_32(dst []byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62Alphabet[v%62]
		v /= 62
	}
}

// CodeAlphabet is the alphabet of short codes: digits and upper-case letters
// without the easily confused 0, O, 1 and I. 32 symbols: 5 bits each.
const CodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// CodeHashParams are the argon2id parameters short codes are hashed with.
// The zero value means DefaultCodeHashParams.
type CodeHashParams struct {
	// Time is the number of passes (argon2 t).
	Time uint32
	// MemoryKiB is the memory cost in KiB (argon2 m).
	MemoryKiB uint32
	// Threads is the parallelism (argon2 p).
	Threads uint8
}

// DefaultCodeHashParams follows the OWASP recommendation for argon2id
// (m=19 MiB, t=2, p=1): about 20-40 ms per hash on a server core.
var DefaultCodeHashParams = CodeHashParams{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

const codeSaltLen = 16

// MintCode returns a new short code of length characters from CodeAlphabet
// and its encoded argon2id hash (PHC string format).
func MintCode(length int, p CodeHashParams) (Secret, []byte) {
	raw := make([]byte, length)
	_, _ = rand.Read(raw)
	for i, b := range raw {
		raw[i] = CodeAlphabet[b&31]
	}
	code := string(raw)
	return NewSecret(code), hashCode(code, p)
}

func hashCode(code string, p CodeHashParams) []byte {
	if p == (CodeHashParams{}) {
		p = DefaultCodeHashParams
	}
	salt := make([]byte, codeSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(code), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// NormalizeCode upper-cases a typed code and drops the spaces and dashes
// people add when copying it. It reports false when a character is outside
// CodeAlphabet.
func NormalizeCode(code string) (string, bool) {
	var b strings.Builder
	b.Grow(len(code))
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c == ' ' || c == '-' {
			continue
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(CodeAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), b.Len() > 0
}

// VerifyCode reports whether code matches the encoded hash made by
// MintCode. The comparison is constant time. A malformed hash, or parameters
// beyond sane bounds (a corrupted row must not make the verifier allocate
// gigabytes), is an error rather than a mismatch.
func VerifyCode(encoded []byte, code string) (bool, error) {
	parts := strings.Split(string(encoded), "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, fmt.Errorf("invite: malformed code hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("invite: unsupported code hash version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return false, fmt.Errorf("invite: malformed code hash parameters")
	}
	if m < 8 || m > 1<<20 || t < 1 || t > 32 || p < 1 || p > 16 || m < 8*uint32(p) {
		return false, fmt.Errorf("invite: code hash parameters out of range")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return false, fmt.Errorf("invite: malformed code hash salt")
	}
	want, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, fmt.Errorf("invite: malformed code hash key")
	}
	got := argon2.IDKey([]byte(code), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
