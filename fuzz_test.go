package invite_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/memstore"
)

// ---------------------------------------------------------------- tokens

// checksummed completes prefix+body into a token with the checksum the
// format prescribes (CRC32-IEEE of prefix+body as 6 base62 digits), computed
// independently of the library.
func checksummed(prefix, body string) string {
	sum := crc32.ChecksumIEEE([]byte(prefix + body))
	return prefix + body + refBase62(new(big.Int).SetUint64(uint64(sum)), 6)
}

// tokenBodyLen is the body length of the tokens the library mints.
func tokenBodyLen() int {
	return invite.TokenLength(invite.DefaultTokenPrefix) - len(invite.DefaultTokenPrefix) - 6
}

func FuzzParseToken(f *testing.F) {
	for range 4 {
		tok, _ := mintToken(f, invite.DefaultTokenPrefix)
		f.Add(tok.Reveal(), []byte(tok.Reveal()[4:]), uint16(7), byte('A'))
	}
	tok, _ := mintToken(f, invite.DefaultTokenPrefix)
	s := tok.Reveal()
	f.Add(s[:len(s)-1]+"!", []byte{0, 1, 2}, uint16(len(s)-1), byte('z'))
	f.Add("", []byte{}, uint16(0), byte(0))
	f.Add("inv_", []byte("x"), uint16(3), byte('_'))
	f.Add(strings.Repeat("\xff", 53), bytes.Repeat([]byte{0xff}, 64), uint16(60), byte(0xff))
	f.Add("INV_"+s[4:], []byte("zzzz"), uint16(52), byte('0'))

	bodyLen := tokenBodyLen()
	const prefix = invite.DefaultTokenPrefix
	f.Fuzz(func(t *testing.T, s string, raw []byte, pos uint16, b byte) {
		// 1. Arbitrary input: never panics; what is accepted is well-formed
		// and hashes to its SHA-256, the same on every parse.
		h, err := invite.ParseToken(prefix, s)
		if err != nil {
			if !errors.Is(err, invite.ErrInvalidToken) || !h.IsZero() {
				t.Fatalf("rejection is not ErrInvalidToken with a zero hash: %v", err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the input")
			}
		} else {
			if len(s) != len(prefix)+bodyLen+6 || !strings.HasPrefix(s, prefix) {
				t.Fatalf("accepted a token of the wrong shape: %q", s)
			}
			for i := len(prefix); i < len(s); i++ {
				if strings.IndexByte(alphabet62, s[i]) < 0 {
					t.Fatalf("accepted a token with %q at %d", s[i], i)
				}
			}
			if s != checksummed(prefix, s[len(prefix):len(s)-6]) {
				t.Fatalf("accepted a token with a wrong checksum: %q", s)
			}
			if h != invite.TokenHash(sha256.Sum256([]byte(s))) {
				t.Fatalf("hash is not the SHA-256 of the token")
			}
			h2, err := invite.ParseToken(prefix, s)
			if err != nil || h2 != h {
				t.Fatalf("re-parsing an accepted token: %v", err)
			}
		}
		_, _ = invite.ParseToken("acme_", s)
		_, _ = invite.ParseToken(s, s)

		// 2. A well-formed token built from raw is accepted.
		var body strings.Builder
		for i := range bodyLen {
			c := byte(i)
			if i < len(raw) {
				c = raw[i]
			}
			body.WriteByte(alphabet62[int(c)%62])
		}
		valid := checksummed(prefix, body.String())
		h, err = invite.ParseToken(prefix, valid)
		if err != nil {
			t.Fatalf("a well-formed token is rejected: %q: %v", valid, err)
		}
		if h != invite.TokenHash(sha256.Sum256([]byte(valid))) {
			t.Fatalf("hash is not the SHA-256 of the token")
		}

		// 3. Any single-byte change, insertion or deletion of it is rejected.
		i := int(pos) % len(valid)
		mutated := []byte(valid)
		mutated[i] = b
		if string(mutated) != valid {
			if _, err := invite.ParseToken(prefix, string(mutated)); !errors.Is(err, invite.ErrInvalidToken) {
				t.Fatalf("byte %d changed to %q is accepted: %v", i, b, err)
			}
		}
		inserted := valid[:i] + string([]byte{b}) + valid[i:]
		if _, err := invite.ParseToken(prefix, inserted); !errors.Is(err, invite.ErrInvalidToken) {
			t.Fatalf("byte inserted at %d is accepted", i)
		}
		deleted := valid[:i] + valid[i+1:]
		if _, err := invite.ParseToken(prefix, deleted); !errors.Is(err, invite.ErrInvalidToken) {
			t.Fatalf("byte deleted at %d is accepted", i)
		}
	})
}

// ---------------------------------------------------------------- codes

var phcParams = regexp.MustCompile(`^m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,2})$`)

// refVerify checks a PHC argon2id hash independently of the library: it
// reports whether encoded is well-formed and its key is argon2id(code).
func refVerify(encoded []byte, code string) bool {
	parts := strings.Split(string(encoded), "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	m := phcParams.FindStringSubmatch(parts[3])
	if m == nil {
		return false
	}
	mem, _ := strconv.ParseUint(m[1], 10, 32)
	tt, _ := strconv.ParseUint(m[2], 10, 32)
	p, _ := strconv.ParseUint(m[3], 10, 8)
	if p == 0 || mem < 8*p || mem*tt > 1<<20 {
		return false
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil {
		return false
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(code), salt, uint32(tt), uint32(mem), uint8(p), uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

func FuzzCheckCodeHash(f *testing.F) {
	tiny := invite.CodeHashParams{Time: 1, MemoryKiB: 8, Threads: 1}
	// A fixed hash of a fixed code, so every run checks the same pair.
	fixed := []byte(phc("ABCDEFGH", argon2.Version, 8, 1, 1, []byte("fixed-salt-16byt"), 32))
	code, minted := mintCode(f, 8, tiny)
	f.Add(fixed, "ABCDEFGH")
	f.Add(fixed, "ABCDEFGX")
	f.Add(minted, code.Reveal())
	f.Add(minted, "")
	f.Add([]byte(phc("ABCDEFGH", argon2.Version, 16, 2, 2, []byte("saltsalt"), 16)), "ABCDEFGH")
	f.Add([]byte("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$"), "x")
	f.Add([]byte("$argon2id$v=19$m=65537,t=4,p=1$c2FsdHNhbHQ$c2FsdHNhbHRzYWx0c2FsdA"), "x")
	f.Add([]byte("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$c2FsdHNhbHRzYWx0c2FsdA"), "x")
	f.Add([]byte("$$$$$"), "")
	f.Add([]byte{}, "\x00")

	f.Fuzz(func(t *testing.T, encoded []byte, code string) {
		ok, err := invite.CheckCodeHash(encoded, code)
		if err != nil && ok {
			t.Fatalf("true with an error")
		}
		if err != nil && strings.Contains(err.Error(), string(encoded)) && len(encoded) > 8 {
			t.Fatalf("error echoes the hash")
		}
		if ok && !refVerify(encoded, code) {
			t.Fatalf("CheckCodeHash accepted %q for a hash not made for it: %q", code, encoded)
		}

		// Against the fixed hash only the fixed code matches.
		ok, err = invite.CheckCodeHash(fixed, code)
		if err != nil {
			t.Fatalf("fixed hash: %v", err)
		}
		if ok != (code == "ABCDEFGH") {
			t.Fatalf("fixed hash: CheckCodeHash(%q) = %v", code, ok)
		}
	})
}

// ---------------------------------------------------------------- create input

var localeShape = regexp.MustCompile(`^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$`)

func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
			(unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d') {
			return false
		}
	}
	return true
}

func FuzzCreateInput(f *testing.F) {
	f.Add("ada@example.com", "+49 30 123456", "user-1", "Ada", "Lovelace", "https://app.example/cb", "en-GB", "Engines")
	f.Add("Ada <ada@example.com>", "0049301234567", "", " ", "", "http://localhost:8080/x", "pt_BR", "")
	f.Add("ada@example.com\r\nBcc: eve@example.com", "+1\n5555550100", "u\r", "A\u2028", "B\x00", "https://x.example/\r\n", "en\r\n", "C\x85")
	f.Add(" a@b.co ", "+123456789012345", "", strings.Repeat("é", 100), strings.Repeat("x", 101), "javascript:alert(1)", "_en", "\t")
	f.Add("\"a b\"@example.com", "++1", "x", "\xff", "名", "//evil.example", "en--US", "Acme\r")
	f.Add("a@example.com.", "00 1 (234) 567-890", "", "", "", "http://[::1]/", "zh-Hant-TW", "Acme & Co")
	f.Add("", "", "", "", "", "", "", "")
	f.Add("", "", "0", "0", "0", "https://\xc4", "", "0") // found by fuzzing: invalid UTF-8 in a redirect URI

	fields := map[string]bool{"Invitee": true, "Invitee.Email": true, "Invitee.Phone": true, "Invitee.UserID": true, "GivenName": true,
		"FamilyName": true, "RedirectURI": true, "Locale": true, "AccountName": true}
	f.Fuzz(func(t *testing.T, email, phone, userID, given, family, redirect, locale, account string) {
		store := memstore.New()
		var logs bytes.Buffer
		m, err := invite.New(store, invite.Config{CodeHashParams: invitetest.FastCodeHash,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		in := invite.CreateInput{
			TenantID: "t1", Invitee: invite.Invitee{Email: email, Phone: phone, UserID: userID},
			GivenName: given, FamilyName: family, AccountName: account, RedirectURI: redirect, Locale: locale,
			Delivery: invite.DeliveryReturn,
		}
		res, err := m.Create(t.Context(), in)
		if err != nil {
			var ve *invite.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, invite.ErrInvalid) {
				t.Fatalf("Create failed with %T, not a *ValidationError: %v", err, err)
			}
			if len(ve.Fields) == 0 {
				t.Fatalf("a ValidationError without fields")
			}
			for _, fe := range ve.Fields {
				if !fields[fe.Field] {
					t.Fatalf("error on a field that was not set: %q", fe.Field)
				}
			}
			page, lerr := m.List(t.Context(), "t1", invite.ListOptions{Filter: invite.Filter{IncludeExpired: true}})
			if lerr != nil || len(page.Invitations) != 0 {
				t.Fatalf("an invalid input was stored: %v", lerr)
			}
			return
		}
		inv, err := m.Get(t.Context(), "t1", res.Invitation.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"email": inv.Invitee.Email, "phone": inv.Invitee.Phone, "user": inv.Invitee.UserID,
			"given": inv.GivenName, "family": inv.FamilyName, "account": inv.AccountName, "redirect": inv.RedirectURI, "locale": inv.Locale} {
			if !cleanText(v) {
				t.Fatalf("stored %s %q has control or format characters or invalid UTF-8", name, v)
			}
		}
		if e := inv.Invitee.Email; e != "" {
			if got, ok := invite.NormalizeEmail(e); !ok || got != e {
				t.Fatalf("stored email %q is not normalised (%q, %v)", e, got, ok)
			}
			if want, _ := invite.NormalizeEmail(email); want != e {
				t.Fatalf("stored email %q, want %q", e, want)
			}
		} else if strings.TrimSpace(email) != "" { // a blank one counts as absent
			t.Fatalf("email %q was dropped", email)
		}
		if p := inv.Invitee.Phone; p != "" {
			if got, ok := invite.NormalizePhone(p); !ok || got != p || !strings.HasPrefix(p, "+") {
				t.Fatalf("stored phone %q is not E.164 (%q, %v)", p, got, ok)
			}
			if want, _ := invite.NormalizePhone(phone); want != p {
				t.Fatalf("stored phone %q, want %q", p, want)
			}
		} else if strings.TrimSpace(phone) != "" {
			t.Fatalf("phone %q was dropped", phone)
		}
		for name, v := range map[string]string{"given": inv.GivenName, "family": inv.FamilyName, "account": inv.AccountName} {
			if utf8.RuneCountInString(v) > invite.MaxNameLen {
				t.Fatalf("stored %s has %d runes", name, utf8.RuneCountInString(v))
			}
		}
		if inv.Locale != "" && !localeShape.MatchString(inv.Locale) {
			t.Fatalf("stored locale %q is not BCP 47-shaped", inv.Locale)
		}
		if r := inv.RedirectURI; r != "" {
			u, err := url.Parse(r)
			if err != nil || !u.IsAbs() || u.Host == "" {
				t.Fatalf("stored redirect %q is not absolute", r)
			}
			loopback := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
			if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
				t.Fatalf("stored redirect %q is neither https nor http on loopback", r)
			}
			link, err := url.Parse(res.Link.Reveal())
			if err != nil || link.Query().Get("token") != res.Token.Reveal() {
				t.Fatalf("link %q does not carry the token: %v", res.Link.Reveal(), err)
			}
		}
		// Whatever went in, the secret does not come out.
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		all := string(out) + fmt.Sprintf("%+v %v", res, inv) + logs.String()
		if strings.Contains(all, res.Token.Reveal()) {
			t.Fatalf("the token leaked")
		}
	})
}
