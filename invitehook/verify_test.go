package invitehook_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite/invitehook"
)

// The Standard Webhooks specification's published example.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = "1614265330"
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var specTime = time.Unix(1614265330, 0)

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{invitehook.HeaderID: id, invitehook.HeaderTimestamp: ts, invitehook.HeaderSignature: sig} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return h
}

func TestVerifySpecExample(t *testing.T) {
	require.NoError(t, invitehook.VerifyAt(specTime, headers(specID, specTS, specSig), []byte(specBody), specSecret))
	sig, err := invitehook.Sign(specID, specTime, []byte(specBody), specSecret)
	require.NoError(t, err)
	require.Equal(t, specSig, sig)
}

func TestVerify(t *testing.T) {
	other := invitehook.NewSecret()
	otherSig, err := invitehook.Sign(specID, specTime, []byte(specBody), other)
	require.NoError(t, err)
	at := func(d time.Duration) string { return strconv.FormatInt(specTime.Add(d).Unix(), 10) }
	signedAt := func(d time.Duration) string {
		s, err := invitehook.Sign(specID, specTime.Add(d), []byte(specBody), specSecret)
		require.NoError(t, err)
		return s
	}
	tests := []struct {
		name    string
		header  http.Header
		body    string
		secrets []string
		want    error // nil: accepted
	}{
		{"published example", headers(specID, specTS, specSig), specBody, []string{specSecret}, nil},
		{"one of several signatures", headers(specID, specTS, "v1a,AAAA v1,bm90IGl0 "+otherSig+" "+specSig), specBody, []string{specSecret}, nil},
		{"one of several secrets", headers(specID, specTS, specSig), specBody, []string{other, specSecret}, nil},
		{"4m59s old", headers(specID, at(-299*time.Second), signedAt(-299*time.Second)), specBody, []string{specSecret}, nil},
		{"4m59s ahead", headers(specID, at(299*time.Second), signedAt(299*time.Second)), specBody, []string{specSecret}, nil},
		{"no id", headers("", specTS, specSig), specBody, []string{specSecret}, invitehook.ErrMissingHeader},
		{"no timestamp", headers(specID, "", specSig), specBody, []string{specSecret}, invitehook.ErrMissingHeader},
		{"no signature", headers(specID, specTS, ""), specBody, []string{specSecret}, invitehook.ErrMissingHeader},
		{"id with a full stop", headers(specID+".1", specTS, specSig), specBody, []string{specSecret}, invitehook.ErrMalformedID},
		{"timestamp not a number", headers(specID, "16142653x0", specSig), specBody, []string{specSecret}, invitehook.ErrMalformedTimestamp},
		{"timestamp signed", headers(specID, "+"+specTS, specSig), specBody, []string{specSecret}, invitehook.ErrMalformedTimestamp},
		{"timestamp fractional", headers(specID, specTS+".5", specSig), specBody, []string{specSecret}, invitehook.ErrMalformedTimestamp},
		{"5m01s old", headers(specID, at(-301*time.Second), signedAt(-301*time.Second)), specBody, []string{specSecret}, invitehook.ErrTooOld},
		{"5m01s ahead", headers(specID, at(301*time.Second), signedAt(301*time.Second)), specBody, []string{specSecret}, invitehook.ErrTooNew},
		{"tampered body", headers(specID, specTS, specSig), `{"test": 2432232315}`, []string{specSecret}, invitehook.ErrNoMatch},
		{"tampered id", headers(specID+"x", specTS, specSig), specBody, []string{specSecret}, invitehook.ErrNoMatch},
		{"other secret", headers(specID, specTS, specSig), specBody, []string{other}, invitehook.ErrNoMatch},
		{"other scheme only", headers(specID, specTS, "v1a,"+strings.TrimPrefix(specSig, "v1,")), specBody, []string{specSecret}, invitehook.ErrNoMatch},
		{"signature not base64", headers(specID, specTS, "v1,***"), specBody, []string{specSecret}, invitehook.ErrNoMatch},
		{"truncated signature", headers(specID, specTS, specSig[:20]), specBody, []string{specSecret}, invitehook.ErrNoMatch},
		{"no secret", headers(specID, specTS, specSig), specBody, nil, invitehook.ErrInvalidSecret},
		{"secret without prefix", headers(specID, specTS, specSig), specBody, []string{strings.TrimPrefix(specSecret, "whsec_")}, invitehook.ErrInvalidSecret},
		{"secret not base64", headers(specID, specTS, specSig), specBody, []string{"whsec_not*base64"}, invitehook.ErrInvalidSecret},
		{"secret too short", headers(specID, specTS, specSig), specBody, []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23))}, invitehook.ErrInvalidSecret},
		{"secret too long", headers(specID, specTS, specSig), specBody, []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))}, invitehook.ErrInvalidSecret},
	}
	sentinels := []error{invitehook.ErrMissingHeader, invitehook.ErrMalformedID, invitehook.ErrMalformedTimestamp,
		invitehook.ErrTooOld, invitehook.ErrTooNew, invitehook.ErrNoMatch, invitehook.ErrInvalidSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := invitehook.VerifyAt(specTime, tt.header, []byte(tt.body), tt.secrets...)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			for _, s := range sentinels {
				if s != tt.want {
					require.NotErrorIs(t, err, s, "exactly one reason")
				}
			}
			for _, s := range tt.secrets {
				require.NotContains(t, err.Error(), strings.TrimPrefix(s, "whsec_"), "an error never echoes a secret")
			}
		})
	}
}

func TestVerifyErrorTypes(t *testing.T) {
	err := invitehook.VerifyAt(specTime, headers(specID, "", specSig), []byte(specBody), specSecret)
	var he *invitehook.HeaderError
	require.ErrorAs(t, err, &he)
	require.Equal(t, invitehook.HeaderTimestamp, he.Header)

	err = invitehook.VerifyAt(specTime.Add(time.Hour), headers(specID, specTS, specSig), []byte(specBody), specSecret)
	var te *invitehook.TimestampError
	require.ErrorAs(t, err, &te)
	require.Equal(t, specTime, te.Timestamp)
	require.Contains(t, err.Error(), "-1h0m0s")

	err = invitehook.VerifyAt(specTime, headers(specID, specTS, specSig), []byte(specBody), specSecret, "whsec_short")
	var se *invitehook.SecretError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "secrets[1]", se.Field)
}

func TestSecrets(t *testing.T) {
	s := invitehook.NewSecret()
	require.True(t, strings.HasPrefix(s, "whsec_"))
	require.NotEqual(t, s, invitehook.NewSecret())
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	require.NoError(t, err)
	require.Len(t, b, 32)
	// Unpadded base64 is accepted too.
	raw := "whsec_" + base64.RawStdEncoding.EncodeToString(b)
	sig, err := invitehook.Sign("msg_1", specTime, []byte("{}"), raw)
	require.NoError(t, err)
	require.NoError(t, invitehook.VerifyAt(specTime, headers("msg_1", specTS, sig), []byte("{}"), s))
	// Two secrets, two signatures.
	sig, err = invitehook.Sign("msg_1", specTime, []byte("{}"), s, specSecret)
	require.NoError(t, err)
	require.Len(t, strings.Fields(sig), 2)
	require.NoError(t, invitehook.VerifyAt(specTime, headers("msg_1", specTS, sig), []byte("{}"), specSecret))
}

func TestMiddleware(t *testing.T) {
	_, err := invitehook.Middleware()
	require.ErrorIs(t, err, invitehook.ErrInvalidSecret)
	mw, err := invitehook.Middleware(specSecret)
	require.NoError(t, err)
	var got []string
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		got = append(got, string(b))
	})))
	defer srv.Close()
	post := func(t *testing.T, h http.Header, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		require.NoError(t, err)
		req.Header = h
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	now := time.Now()
	sig, err := invitehook.Sign("msg_1", now, []byte(specBody), specSecret)
	require.NoError(t, err)
	ts := strconv.FormatInt(now.Unix(), 10)
	require.Equal(t, http.StatusOK, post(t, headers("msg_1", ts, sig), specBody))
	require.Equal(t, []string{specBody}, got)
	require.Equal(t, http.StatusUnauthorized, post(t, headers("msg_1", ts, sig), specBody+" "))
	require.Equal(t, http.StatusUnauthorized, post(t, headers(specID, specTS, specSig), specBody), "the published example is too old now")
	big := strings.Repeat("x", invitehook.MaxVerifiedBody+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, post(t, headers("msg_1", ts, sig), big))
	require.Len(t, got, 1)
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{invitehook.ErrMissingHeader, invitehook.ErrMalformedID, invitehook.ErrMalformedTimestamp,
		invitehook.ErrTooOld, invitehook.ErrTooNew, invitehook.ErrNoMatch, invitehook.ErrInvalidSecret}
	for i, a := range errs {
		for j, b := range errs {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
}
