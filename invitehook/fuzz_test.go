package invitehook_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/invitekit/invite/invitehook"
)

// FuzzVerify checks that Verify never panics on any headers and body, and,
// for a fixed secret, accepts a webhook it signed and never one whose
// body, id or timestamp was changed afterwards.
func FuzzVerify(f *testing.F) {
	f.Add(specID, int64(0), specBody, specID, int64(0), specBody, specSig)
	f.Add("msg_1", int64(-299), `{"a":1}`, "msg_1", int64(1), `{"a":1}`, "v1,xx v1a,yy")
	f.Add("a", int64(5), "", "a", int64(5), " ", "")
	f.Add("evt-1", int64(0), "123.{}", "evt-1.0", int64(0), "{}", "v1,")
	f.Fuzz(func(t *testing.T, id string, off int64, body, id2 string, off2 int64, body2, rawSig string) {
		now := specTime
		// Whatever arrives, Verify answers without panicking.
		raw := headers(id2, strconv.FormatInt(now.Unix()+off2, 10), rawSig)
		raw.Set(invitehook.HeaderTimestamp, body2[:min(len(body2), 12)])
		_ = invitehook.VerifyAt(now, raw, []byte(body2), specSecret)

		off, off2 = off%600, off2%600 // within ten minutes either way
		ts, ts2 := strconv.FormatInt(now.Unix()+off, 10), strconv.FormatInt(now.Unix()+off2, 10)
		sig, err := invitehook.Sign(id, now.Add(time.Duration(off)*time.Second), []byte(body), specSecret)
		if (err == nil) != validID(id) {
			t.Fatalf("Sign(%q): %v", id, err)
		}
		if err != nil {
			return
		}
		orig := headers(id, ts, sig)
		okOrig := invitehook.VerifyAt(now, orig, []byte(body), specSecret) == nil
		if okOrig != (off >= -300 && off <= 300) {
			t.Fatalf("a genuine webhook (id %q, offset %d): accepted %v", id, off, okOrig)
		}
		// The same signature on other content.
		tampered := headers(id2, ts2, sig)
		if id2 == id && ts2 == ts && body2 == body {
			return
		}
		if err := invitehook.VerifyAt(now, tampered, []byte(body2), specSecret); err == nil {
			t.Fatalf("accepted a tampered webhook: id %q->%q ts %s->%s body %q->%q", id, id2, ts, ts2, body, body2)
		}
	})
}

// validID mirrors the package's rule for ids.
func validID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '.' {
			return false
		}
	}
	return true
}
