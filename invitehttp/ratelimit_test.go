package invitehttp_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/invitekit/invite/invitehttp"
)

// limiter keeps a token bucket per key: per client and per reference.
type limiter struct {
	mu  sync.Mutex
	per map[string]*rate.Limiter
}

// allow takes one token from the bucket of every key, and says how long
// to wait when one of them is empty.
func (l *limiter) allow(keys ...string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, wait := true, time.Duration(0)
	for _, k := range keys {
		lim, found := l.per[k]
		if !found {
			lim = rate.NewLimiter(rate.Every(20*time.Second), 3)
			l.per[k] = lim
		}
		if !lim.Allow() {
			ok, wait = false, max(wait, 20*time.Second)
		}
	}
	return wait, ok
}

func TestRateLimitPerClientAndPerReference(t *testing.T) {
	l := &limiter{per: map[string]*rate.Limiter{}}
	var refs []string
	e := newEnv(t, func(c *invitehttp.Config) {
		c.RateLimit = func(r *http.Request, a invitehttp.Action, ref string) (time.Duration, bool) {
			refs = append(refs, ref)
			client := r.Header.Get("X-Client") // the host's notion of the client: its address, behind its proxies
			if client == "" {
				client, _, _ = net.SplitHostPort(r.RemoteAddr)
			}
			return l.allow("client:"+client, ref)
		}
	})
	c := e.create("ada@example.com", map[string]any{"with_code": true})
	verify := func(client, email string) *resp {
		return e.do("POST", "/public/tenants/acme/codes/verify", map[string]any{"email": email, "code": "WRONGCDE"}, "X-Client", client)
	}
	for range 3 {
		verify("198.51.100.7", "ada@example.com").problem(t, 400, "invalid-code")
	}
	r := verify("198.51.100.7", "ada@example.com")
	r.problem(t, 429, "rate-limited")
	require.Equal(t, "20", r.header.Get("Retry-After"))
	// Another client meets the reference's limit, however it spells it.
	verify("203.0.113.9", "ADA@example.com").problem(t, 429, "rate-limited")
	// The first client is held back on any reference.
	verify("198.51.100.7", "bob@example.com").problem(t, 429, "rate-limited")
	// A fresh client on a fresh reference passes.
	verify("192.0.2.1", "bob@example.com").problem(t, 400, "invalid-code")
	require.Contains(t, refs, "code:acme||ada@example.com|")

	// Token endpoints: the reference is a digest, never the token.
	for range 3 {
		require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil, "X-Client", "192.0.2.50").status)
	}
	e.do("GET", "/public/invitations/"+c.Token, nil, "X-Client", "192.0.2.51").problem(t, 429, "rate-limited")
	e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-Client", "192.0.2.52", "X-User", "u1").problem(t, 429, "rate-limited")
	for _, ref := range refs {
		require.NotContains(t, ref, c.Token)
		require.NotContains(t, ref, strings.TrimPrefix(c.Token, "inv_"))
	}
	// Admin endpoints are not rate limited by the hook.
	n := len(refs)
	e.admin("GET", "/tenants/acme/invitations", nil)
	require.Len(t, refs, n)
}
