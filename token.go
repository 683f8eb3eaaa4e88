package invite

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Token format: Prefix + base62(32 random bytes, 44 characters: 11 per 64-bit word) +
// base62(CRC32-IEEE of everything before it, 6 characters). The prefix lets
// secret scanners match leaked tokens; the checksum rejects typos and garbage
// before any store lookup. Only the SHA-256 of the whole token is stored.
const (
	// DefaultTokenPrefix is Config.TokenPrefix's default.
	DefaultTokenPrefix = "inv_"
	tokenBodyLen       = 44 // 4 words of 64 bits, 11 base62 digits each
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

// TokenLength is the length of every token with the given prefix: size
// database columns and input fields with it.
func TokenLength(prefix string) int { return len(prefix) + tokenBodyLen + tokenCheckLen }

// MintToken mints a new link token with the given prefix and returns it with
// its hash. It reads 32 bytes from crypto/rand.
func MintToken(prefix string) (Secret, TokenHash, error) {
	if len(prefix) > maxTokenPrefixLen || !validPrefix(prefix) {
		return Secret{}, TokenHash{}, &ValidationError{Fields: []FieldError{newFieldError("Prefix", tokenPrefixRule, nil)}}
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	var buf [maxTokenPrefixLen + tokenBodyLen + tokenCheckLen]byte
	n := copy(buf[:], prefix)
	encodeBase62_256(buf[n:n+tokenBodyLen], &raw)
	n += tokenBodyLen
	encodeBase62_32(buf[n:n+tokenCheckLen], checksum(buf[:n]))
	n += tokenCheckLen
	h := TokenHash(sha256.Sum256(buf[:n]))
	return NewSecret(string(buf[:n])), h, nil
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
	encodeBase62_32(sum[:], checksum(buf[:n-tokenCheckLen]))
	if subtle.ConstantTimeCompare(sum[:], buf[n-tokenCheckLen:n]) != 1 {
		return TokenHash{}, ErrInvalidToken
	}
	return TokenHash(sha256.Sum256(buf[:n])), nil
}

// encodeBase62_256 writes raw as 44 base62 digits: each of its four
// big-endian 64-bit words as 11 digits (62^11 > 2^64), most significant
// first. Chunking costs one character over a whole-number conversion (43)
// and makes the four division chains independent, by a constant the
// compiler turns into a multiplication: no hardware divide, no math/big.
func encodeBase62_256(dst []byte, raw *[32]byte) {
	_ = dst[tokenBodyLen-1]
	for w := 0; w < 4; w++ {
		v := binary.BigEndian.Uint64(raw[w*8:])
		out := dst[w*11 : w*11+11]
		for i := 10; i > 1; i -= 2 { // two digits per division
			q := v / (62 * 62)
			pair := base62Pairs[v-q*(62*62)]
			out[i-1], out[i] = pair[0], pair[1]
			v = q
		}
		out[0] = base62Alphabet[v] // v < 2^64 / 62^10 < 22
	}
}

// base62Pairs[n] is n (< 62*62) as two base62 digits.
var base62Pairs = func() (t [62 * 62][2]byte) {
	for i := range t {
		t[i] = [2]byte{base62Alphabet[i/62], base62Alphabet[i%62]}
	}
	return t
}()

// crcTables are slicing-by-8 tables for CRC-32 (IEEE); crcTables[0] is
// crc32.MakeTable(crc32.IEEE).
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.MakeTable(crc32.IEEE)
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xFF] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

// checksum is crc32.ChecksumIEEE (the tests hold it to that), computed
// with slicing-by-8 in this package: a call into hash/crc32 goes through a
// function variable, which forces the caller's buffer onto the heap.
func checksum(p []byte) uint32 {
	crc := ^uint32(0)
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint32(p)
		hi := binary.LittleEndian.Uint32(p[4:])
		crc = crcTables[0][hi>>24] ^ crcTables[1][hi>>16&0xFF] ^ crcTables[2][hi>>8&0xFF] ^ crcTables[3][hi&0xFF] ^
			crcTables[4][crc>>24] ^ crcTables[5][crc>>16&0xFF] ^ crcTables[6][crc>>8&0xFF] ^ crcTables[7][crc&0xFF]
		p = p[8:]
	}
	for _, c := range p {
		crc = crcTables[0][byte(crc)^c] ^ crc>>8
	}
	return ^crc
}

// encodeBase62_32 writes v as exactly 6 base62 digits (62^6 > 2^32).
func encodeBase62_32(dst []byte, v uint32) {
	_ = dst[tokenCheckLen-1]
	for i := tokenCheckLen - 1; i > 0; i -= 2 {
		q := v / (62 * 62)
		pair := base62Pairs[v-q*(62*62)]
		dst[i-1], dst[i] = pair[0], pair[1]
		v = q
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

// Bounds on CodeHashParams, enforced by New and by CheckCodeHash. They keep one
// verification under about a second: a corrupted or crafted hash row must
// not make the verifier allocate a gigabyte or run for minutes.
const (
	maxCodeHashMemoryKiB = 64 << 10  // 64 MiB
	maxCodeHashCost      = 256 << 10 // MemoryKiB * Time: 64 MiB over 4 passes
)

// The rules New, MintToken and MintCode enforce, as their errors say them.
const (
	tokenPrefixRule    = "must be 1 to 16 characters from [A-Za-z0-9_]"
	minCodeLength      = 6
	maxCodeLength      = 16
	codeLengthRule     = "must be 6 to 16"
	codeHashParamsRule = "out of range (Time 1..32, Threads 1..16, MemoryKiB 8*Threads..65536, MemoryKiB*Time at most 262144)"
)

// valid reports whether p lies within the bounds above (Time 1..32, Threads
// 1..16, MemoryKiB 8*Threads..65536, MemoryKiB*Time at most 262144).
func (p CodeHashParams) valid() bool {
	return p.Time >= 1 && p.Time <= 32 && p.Threads >= 1 && p.Threads <= 16 &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= maxCodeHashMemoryKiB &&
		uint64(p.MemoryKiB)*uint64(p.Time) <= maxCodeHashCost
}

// DefaultCodeHashParams follows the OWASP recommendation for argon2id
// (m=19 MiB, t=2, p=1): about 20-40 ms per hash on a server core.
var DefaultCodeHashParams = CodeHashParams{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

const codeSaltLen = 16

// MintCode returns a new short code of length characters from CodeAlphabet
// and its encoded argon2id hash (PHC string format).
func MintCode(length int, p CodeHashParams) (Secret, []byte, error) {
	var fe fieldErrs
	if length < minCodeLength || length > maxCodeLength {
		fe.add("Length", codeLengthRule)
	}
	if p != (CodeHashParams{}) && !p.valid() {
		fe.add("CodeHashParams", codeHashParamsRule)
	}
	if err := fe.err(); err != nil {
		return Secret{}, nil, err
	}
	raw := make([]byte, length)
	_, _ = rand.Read(raw)
	for i, b := range raw {
		raw[i] = CodeAlphabet[b&31]
	}
	code := string(raw)
	return NewSecret(code), hashCode(code, p), nil
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

// CheckCodeHash reports whether code matches the encoded hash made by
// MintCode. The comparison is constant time. A malformed hash, or parameters
// beyond sane bounds (a corrupted row must not make the verifier allocate
// gigabytes), is an error rather than a mismatch.
func CheckCodeHash(encoded []byte, code string) (bool, error) {
	parts := strings.Split(string(encoded), "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, fmt.Errorf("invite: malformed code hash")
	}
	// Exact match: Sscanf("v=%d") would also take "v=19x", "v=019" or "v= 19".
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, fmt.Errorf("invite: unsupported code hash version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return false, fmt.Errorf("invite: malformed code hash parameters")
	}
	if !(CodeHashParams{Time: t, MemoryKiB: m, Threads: p}).valid() {
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
