package invitehook

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed webhook.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook's timestamp may lie from the receiver's
// clock, either way, for Verify to accept it.
const Tolerance = 5 * time.Minute

// The reasons Verify refuses a webhook. Each error Verify returns matches
// exactly one of them (or ErrInvalidSecret) with errors.Is.
var (
	// ErrMissingHeader: a webhook-id, webhook-timestamp or
	// webhook-signature header is missing or empty (a *HeaderError).
	ErrMissingHeader = errors.New("invitehook: missing webhook header")
	// ErrMalformedID: the webhook-id holds a full stop, a space or a
	// control character (a *HeaderError). Sign, NewWebhook and Send refuse
	// such an id too, with an *invite.ValidationError on the field "ID"
	// that matches it.
	ErrMalformedID = errors.New("invitehook: malformed webhook-id")
	// ErrMalformedTimestamp: the webhook-timestamp is not a number of
	// seconds (a *HeaderError).
	ErrMalformedTimestamp = errors.New("invitehook: malformed webhook-timestamp")
	// ErrTooOld: the timestamp is more than the tolerance in the past (a
	// *TimestampError): a replay, or a request that waited too long.
	ErrTooOld = errors.New("invitehook: webhook timestamp too old")
	// ErrTooNew: the timestamp is more than the tolerance in the future (a
	// *TimestampError): a clock far off on one side.
	ErrTooNew = errors.New("invitehook: webhook timestamp too new")
	// ErrNoMatch: no signature in the header is one of the secrets'
	// signature of this id, timestamp and body: a forged or altered
	// request, or a secret the sender does not use.
	ErrNoMatch = errors.New("invitehook: no matching webhook signature")
)

// HeaderError is a missing or malformed header. Err is ErrMissingHeader,
// ErrMalformedID or ErrMalformedTimestamp.
type HeaderError struct {
	Header string
	Err    error
}

func (e *HeaderError) Error() string { return e.Err.Error() + ": " + e.Header }

// Unwrap returns Err.
func (e *HeaderError) Unwrap() error { return e.Err }

// TimestampError is a timestamp outside the tolerance. Err is ErrTooOld or
// ErrTooNew.
type TimestampError struct {
	Timestamp time.Time // from the header
	Now       time.Time // the receiver's clock
	Err       error
}

func (e *TimestampError) Error() string {
	return fmt.Sprintf("%v: %s from now (tolerance %s)", e.Err, e.Timestamp.Sub(e.Now).Round(time.Second), Tolerance)
}

// Unwrap returns Err.
func (e *TimestampError) Unwrap() error { return e.Err }

// Verify checks a received webhook against the secrets the receiver
// accepts (one, or during a rotation several): header holds the request's
// headers and body its exact bytes, read before any JSON decoding. It
// returns nil when the timestamp lies within five minutes of the clock
// either way and some signature in the webhook-signature header is a
// secret's signature of the id, the timestamp and the body. Signatures are
// compared in constant time; signatures of other schemes (not "v1,") are
// ignored. Every failure is a typed error (see ErrMissingHeader and the
// errors after it; a bad secret is a *SecretError).
//
// A verified webhook may still be a retry of one already handled: the
// receiver deduplicates on the webhook-id header.
func Verify(header http.Header, body []byte, secrets ...string) error {
	return VerifyAt(time.Now(), header, body, secrets...)
}

// VerifyAt is Verify with the receiver's clock reading now, for tests.
func VerifyAt(now time.Time, header http.Header, body []byte, secrets ...string) error {
	keys, err := parseSecrets("secrets", secrets)
	if err != nil {
		return err
	}
	return verify(keys, now, header, body)
}

func verify(keys []key, now time.Time, header http.Header, body []byte) error {
	id, ts, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	for _, h := range [...]struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if h.v == "" {
			return &HeaderError{Header: h.name, Err: ErrMissingHeader}
		}
	}
	if !validID(id) {
		return &HeaderError{Header: HeaderID, Err: ErrMalformedID}
	}
	sec, ok := parseTimestamp(ts)
	if !ok {
		return &HeaderError{Header: HeaderTimestamp, Err: ErrMalformedTimestamp}
	}
	t := time.Unix(sec, 0)
	switch {
	case t.Before(now.Add(-Tolerance)):
		return &TimestampError{Timestamp: t, Now: now, Err: ErrTooOld}
	case t.After(now.Add(Tolerance)):
		return &TimestampError{Timestamp: t, Now: now, Err: ErrTooNew}
	}
	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = k.mac(id, ts, body)
	}
	match := false
	for s := range strings.FieldsSeq(sigs) {
		enc, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		for _, w := range want {
			// Every pair is compared, so the time taken does not say which
			// matched.
			if hmac.Equal(got, w) {
				match = true
			}
		}
	}
	if !match {
		return ErrNoMatch
	}
	return nil
}

// validID reports whether id can be signed unambiguously: 1 to 256
// printable ASCII characters, no space and no full stop (the separator of
// the signed content).
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

// parseTimestamp parses 1 to 18 decimal digits.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// MaxVerifiedBody is the largest body Middleware reads: 1 MiB.
const MaxVerifiedBody = 1 << 20

// Middleware returns a wrapper for a receiver's handler: it reads the body
// (at most MaxVerifiedBody; a longer one gets 413), verifies it with
// Verify, answers 401 to a request that fails, and otherwise calls the
// handler with the body restored for it to read. The secrets are checked
// here, once.
func Middleware(secrets ...string) (func(http.Handler) http.Handler, error) {
	keys, err := parseSecrets("secrets", secrets)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxVerifiedBody))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, "reading the request body failed", http.StatusBadRequest)
				return
			}
			if err := verify(keys, time.Now(), r.Header, body); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	}, nil
}
