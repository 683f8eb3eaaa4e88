package invitehook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// The accepted sizes of a signing secret, in bytes once decoded.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrInvalidSecret matches every *SecretError.
var ErrInvalidSecret = errors.New("invitehook: invalid signing secret")

// SecretError reports a signing secret that is not "whsec_" followed by the
// base64 of 24 to 64 bytes. It names where the secret was given and never
// contains the secret.
type SecretError struct {
	// Field is where the secret was given: "Endpoints[0].Secrets[1]" in a
	// Config, "secrets[0]" for Verify and Sign.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *SecretError) Error() string {
	return "invitehook: " + e.Field + ": " + e.Reason
}

// Is makes a *SecretError match ErrInvalidSecret.
func (e *SecretError) Is(target error) bool { return target == ErrInvalidSecret }

// key is a decoded signing secret.
type key []byte

// parseSecret decodes a "whsec_" secret; field names it in the error.
func parseSecret(field, s string) (key, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, &SecretError{Field: field, Reason: "does not start with " + SecretPrefix}
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil && !strings.Contains(rest, "=") {
		b, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil {
		return nil, &SecretError{Field: field, Reason: "is not base64 after " + SecretPrefix}
	}
	if len(b) < MinSecretBytes || len(b) > MaxSecretBytes {
		return nil, &SecretError{Field: field, Reason: fmt.Sprintf("decodes to %d bytes; %d to %d are allowed", len(b), MinSecretBytes, MaxSecretBytes)}
	}
	return key(b), nil
}

// parseSecrets decodes secrets, naming each in errors as name[i]. At least
// one is required.
func parseSecrets(name string, secrets []string) ([]key, error) {
	if len(secrets) == 0 {
		return nil, &SecretError{Field: name, Reason: "no secret given"}
	}
	keys := make([]key, len(secrets))
	for i, s := range secrets {
		k, err := parseSecret(name+"["+strconv.Itoa(i)+"]", s)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 32
// bytes from crypto/rand. Give it to the receiver over a safe channel.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand.Read panics instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// mac is the raw HMAC-SHA256 of "id.timestamp.body" under k.
func (k key) mac(id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// signature is the webhook-signature header value: "v1,<base64>" for each
// key, space separated.
func signature(keys []key, id, ts string, body []byte) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(k.mac(id, ts, body)))
	}
	return b.String()
}

// Sign returns the webhook-signature header value for a message with the
// given id, attempt time and body: one "v1," signature per secret, space
// separated. The webhook-timestamp header is t's Unix seconds. The id is
// 1 to 256 printable ASCII characters without spaces or full stops (any
// other is an *invite.ValidationError on the field "ID", matching
// ErrMalformedID). Sign is for hosts that deliver a payload their own
// way; Sink.Send signs and sends.
func Sign(id string, t time.Time, body []byte, secrets ...string) (string, error) {
	if !validID(id) {
		return "", errBadID()
	}
	keys, err := parseSecrets("secrets", secrets)
	if err != nil {
		return "", err
	}
	return signature(keys, id, strconv.FormatInt(t.Unix(), 10), body), nil
}
