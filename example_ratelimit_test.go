package invite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// codeLimiter is the host's half of guarding short codes: a few attempts a
// minute per client and per invitation reference (the tenant and the
// email, phone or id the client names). The library's half is the failure
// limit of each code; without the host's, anyone who knows an email can
// use that limit up.
type codeLimiter struct {
	mu  sync.Mutex
	per map[string]*rate.Limiter
}

// allow reports whether every key may make one more attempt now.
func (l *codeLimiter) allow(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok := true
	for _, k := range keys {
		lim, found := l.per[k]
		if !found {
			lim = rate.NewLimiter(rate.Every(20*time.Second), 3) // a burst of 3, then one every 20 s
			l.per[k] = lim
		}
		ok = lim.Allow() && ok
	}
	return ok
}

// A public "enter your code" endpoint rate-limits per client and per
// reference before asking the Manager, and gives one answer for every
// failure.
func ExampleManager_VerifyCode_rateLimit() {
	ctx := context.Background()
	m, err := invite.New(memstore.New(), invite.Config{
		CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1}, // fast for the example only
	})
	if err != nil {
		panic(err)
	}
	if _, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"},
		WithCode: true, Delivery: invite.DeliveryReturn}); err != nil {
		panic(err)
	}
	limits := &codeLimiter{per: map[string]*rate.Limiter{}}
	verify := func(clientIP string, ref invite.CodeRef, code string) string {
		// The reference in its normal form, so that "Ada@Example.com" or
		// a phone typed with spaces meets the same limit.
		email, _ := invite.NormalizeEmail(ref.Email)
		phone, _ := invite.NormalizePhone(ref.Phone)
		key := "ref:" + ref.TenantID + "|" + ref.InvitationID + "|" + email + "|" + phone
		if !limits.allow("client:"+clientIP, key) {
			return "429 try again later"
		}
		if _, err := m.VerifyCode(ctx, ref, code); err != nil {
			if errors.Is(err, invite.ErrInvalidCode) { // wrong, unknown, closed or locked alike
				return "400 invalid or expired code"
			}
			return "500"
		}
		return "200"
	}

	ref := invite.CodeRef{TenantID: "acme", Email: "ada@example.com"}
	for i := range 4 {
		fmt.Println("attempt", i+1, "from 198.51.100.7:", verify("198.51.100.7", ref, "WRONGCDE"))
	}
	// Another client is held back too, however it writes the reference:
	// the reference has used its burst.
	fmt.Println("attempt from 203.0.113.9:", verify("203.0.113.9", invite.CodeRef{TenantID: "acme", Email: "Ada@Example.COM"}, "WRONGCDE"))

	// Output:
	// attempt 1 from 198.51.100.7: 400 invalid or expired code
	// attempt 2 from 198.51.100.7: 400 invalid or expired code
	// attempt 3 from 198.51.100.7: 400 invalid or expired code
	// attempt 4 from 198.51.100.7: 429 try again later
	// attempt from 203.0.113.9: 429 try again later
}
