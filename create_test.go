package invite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestCreateReturnsSecretAndStoresOnlyItsHash(t *testing.T) {
	e := newEnv(t)
	now := managerNow(e.clock)
	res := e.create(input("Ada@Example.com"))
	inv := res.Invitation

	requireUUIDv7(t, inv.ID)
	require.Equal(t, "t1", inv.TenantID)
	require.Equal(t, "ada@example.com", inv.Invitee.Email, "stored in the form it is matched in")
	require.Equal(t, invite.StatePending, inv.State)
	require.EqualValues(t, 1, inv.Version)
	require.Equal(t, now, inv.CreatedAt)
	require.Equal(t, time.UTC, inv.CreatedAt.Location())
	require.Equal(t, now, inv.IssuedAt)
	require.Equal(t, now.Add(week), inv.ExpiresAt)
	require.Zero(t, inv.SendCount)
	require.True(t, inv.SentAt.IsZero())
	require.False(t, inv.HasCode)
	require.Equal(t, "invite", inv.TemplateKey)
	require.Equal(t, []string{"member"}, inv.Roles)
	require.True(t, res.Code.IsZero())
	require.False(t, res.Replayed)

	tok := res.Token.Reveal()
	h, err := invite.ParseToken(invite.DefaultTokenPrefix, tok)
	require.NoError(t, err)
	rec := e.record("t1", inv.ID)
	require.Equal(t, invite.TokenHash(sha256.Sum256([]byte(tok))), rec.Credentials.TokenHash)
	require.True(t, rec.Credentials.TokenHash.Equal(h))
	require.Empty(t, rec.Credentials.CodeHash)
	require.Empty(t, rec.Credentials.PreviousTokens)

	// The link is the redirect URI with the token as a query parameter.
	u, err := url.Parse(res.Link.Reveal())
	require.NoError(t, err)
	require.Equal(t, "https", u.Scheme)
	require.Equal(t, "app.example", u.Host)
	require.Equal(t, "/register", u.Path)
	require.Equal(t, tok, u.Query().Get("token"))

	require.Empty(t, e.notes.Messages(), "DeliveryReturn sent something")
	evs := e.events.Events()
	require.Len(t, evs, 1)
	require.Equal(t, invite.EventCreated, evs[0].Type)
	require.Nil(t, evs[0].Old)
	require.Equal(t, inv.ID, evs[0].New.ID)
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin}, evs[0].Actor)

	// The caller's input is not shared with the store.
	in := input("bob@example.com")
	in.Data = map[string]string{"k": "v"}
	res2 := e.create(in)
	in.Roles[0] = "owner"
	in.Data["k"] = "changed"
	got := e.get("t1", res2.Invitation.ID)
	require.Equal(t, []string{"member"}, got.Roles)
	require.Equal(t, "v", got.Data["k"])
}

func TestCreateExpiry(t *testing.T) {
	e := newEnv(t)
	now := managerNow(e.clock)
	in := input("a@example.com")
	in.ExpiresIn = 36 * time.Hour
	require.Equal(t, now.Add(36*time.Hour), e.create(in).Invitation.ExpiresAt)

	in = input("b@example.com")
	at := now.Add(48 * time.Hour).Add(123 * time.Nanosecond)
	in.ExpiresAt = at
	in.ExpiresIn = 2 * time.Hour // ExpiresAt wins
	require.Equal(t, at.Truncate(time.Microsecond), e.create(in).Invitation.ExpiresAt)

	e2 := newEnv(t, func(c *invite.Config) {
		c.DefaultExpiry, c.MinExpiry, c.MaxExpiry = 2*time.Hour, time.Minute, 3*time.Hour
	})
	require.Equal(t, managerNow(e2.clock).Add(2*time.Hour), e2.create(input("a@example.com")).Invitation.ExpiresAt)
	in = input("b@example.com")
	in.ExpiresIn = 4 * time.Hour
	_, err := e2.m.Create(e2.ctx(), in)
	requireValidation(t, err, "ExpiresIn")
}

func TestCreateWithoutNotifier(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.Notifier = nil })
	in := input("ada@example.com")
	in.Delivery = invite.DeliverySend
	_, err := e.m.Create(e.ctx(), in)
	requireValidation(t, err, "Delivery")
	require.Zero(t, e.count("t1"))
	// DeliveryReturn needs no notifier.
	res := e.create(input("ada@example.com"))
	_, err = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
	requireValidation(t, err, "Delivery")
	_, err = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
}

// ---------------------------------------------------------------- uniqueness

func TestOpenInvitationBlocksSameInvitee(t *testing.T) {
	cases := []struct {
		name          string
		first, second invite.Invitee
	}{
		{"email case-insensitive", invite.Invitee{Email: "Ada@Example.com"}, invite.Invitee{Email: "ada@example.COM"}},
		{"email with spaces", invite.Invitee{Email: "ada@example.com"}, invite.Invitee{Email: "  ada@example.com "}},
		{"phone formats", invite.Invitee{Phone: "+49 30 1234567"}, invite.Invitee{Phone: "0049 (30) 123-4567"}},
		{"user id", invite.Invitee{UserID: "u-1"}, invite.Invitee{UserID: "u-1"}},
		{"one shared key", invite.Invitee{Email: "ada@example.com", Phone: "+4930123456"}, invite.Invitee{Email: "other@example.com", Phone: "+49.30.123456"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			in := input("")
			in.Invitee = c.first
			first := e.create(in)
			in.Invitee = c.second
			_, err := e.m.Create(e.ctx(), in)
			require.ErrorIs(t, err, invite.ErrAlreadyExists)
			require.Equal(t, 1, e.count("t1"))

			// Another tenant is not blocked.
			in2 := in
			in2.TenantID = "t2"
			e.create(in2)

			// Supersede revokes the open one in the same step.
			e.events.Reset()
			in.Supersede = true
			second := e.create(in)
			old := e.get("t1", first.Invitation.ID)
			require.Equal(t, invite.StateRevoked, old.State)
			require.Equal(t, "superseded", old.Reason)
			require.Equal(t, managerNow(e.clock), old.ClosedAt)
			require.Equal(t, []invite.EventType{invite.EventRevoked, invite.EventCreated}, e.events.Types())
			evs := e.events.Events()
			require.Equal(t, first.Invitation.ID, evs[0].InvitationID)
			require.Equal(t, invite.StatePending, evs[0].Old.State)
			require.Equal(t, second.Invitation.ID, evs[1].InvitationID)
			_, err = e.m.Accept(e.ctx(), first.Token.Reveal(), invite.AcceptInput{Subject: "u-1"})
			requireTransition(t, err, invite.StateRevoked)
			_, err = e.m.Accept(e.ctx(), second.Token.Reveal(), invite.AcceptInput{Subject: "u-1"})
			require.NoError(t, err)
		})
	}
}

func TestClosedInvitationsNeverBlock(t *testing.T) {
	cases := map[string]func(e *env, res *invite.Result){
		"accepted": func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(e.t, err)
		},
		"rejected": func(e *env, res *invite.Result) {
			_, err := e.m.Reject(e.ctx(), res.Token.Reveal(), "")
			require.NoError(e.t, err)
		},
		"revoked": func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			require.NoError(e.t, err)
		},
		"expired": func(e *env, _ *invite.Result) { e.clock.Advance(week) },
		"expired and swept": func(e *env, _ *invite.Result) {
			e.clock.Advance(week + time.Second)
			n, err := e.m.ExpireDue(e.ctx(), 0)
			require.NoError(e.t, err)
			require.Equal(e.t, 1, n)
		},
	}
	for name, closeIt := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			first := e.create(input("ada@example.com"))
			closeIt(e, first)
			state := e.get("t1", first.Invitation.ID).State
			e.events.Reset()
			second := e.create(input("ADA@example.com"))
			require.NotEqual(t, first.Invitation.ID, second.Invitation.ID)
			require.Equal(t, state, e.get("t1", first.Invitation.ID).State)
			if name == "expired" {
				// The lapsed one is marked expired in the same batch.
				require.Equal(t, invite.StateExpired, e.record("t1", first.Invitation.ID).Invitation.State)
				require.Equal(t, []invite.EventType{invite.EventExpired, invite.EventCreated}, e.events.Types())
				require.Equal(t, invite.ActorSystem, e.events.Events()[0].Actor.Kind)
			} else {
				require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types())
			}
		})
	}
}

func TestConcurrentCreateSameInvitee(t *testing.T) {
	e := newEnv(t)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input(fmt.Sprintf("%s@example.com", []string{"ada", "ADA", "Ada"}[i%3]))
			_, errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, invite.ErrAlreadyExists)
	}
	require.Equal(t, 1, ok)
	require.Equal(t, 1, e.count("t1"))
}

// ---------------------------------------------------------------- idempotency

func TestIdempotencyKeyReplaysFirstResult(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.IdempotencyKey = "req-1"
	first := e.create(in)
	require.False(t, first.Replayed)

	e.clock.Advance(time.Minute)
	again := e.create(in)
	require.True(t, again.Replayed)
	require.Equal(t, first.Invitation.ID, again.Invitation.ID)
	require.Equal(t, first.Invitation.CreatedAt, again.Invitation.CreatedAt)
	require.True(t, again.Token.IsZero(), "the plaintext was never kept")
	require.True(t, again.Link.IsZero())
	require.Equal(t, 1, e.count("t1"))
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types())

	// Same key for another invitee: refused with its own sentinel (not a
	// version conflict), nothing created.
	other := input("bob@example.com")
	other.IdempotencyKey = "req-1"
	_, err := e.m.Create(e.ctx(), other)
	require.ErrorIs(t, err, invite.ErrIdempotencyMismatch)
	require.NotErrorIs(t, err, invite.ErrConflict)
	require.Equal(t, 1, e.count("t1"))

	// Keys are per tenant.
	in2 := in
	in2.TenantID = "t2"
	r2 := e.create(in2)
	require.False(t, r2.Replayed)
	require.NotEqual(t, first.Invitation.ID, r2.Invitation.ID)

	// The replay reports the invitation as it is now.
	_, err = e.m.Accept(e.ctx(), first.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	again = e.create(in)
	require.True(t, again.Replayed)
	require.Equal(t, invite.StateAccepted, again.Invitation.State)
	require.Equal(t, 1, e.count("t1"))
}

func TestIdempotencyKeyConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 16
	results := make([]*invite.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.IdempotencyKey = "req-1"
			results[i], errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0].Invitation.ID, results[i].Invitation.ID)
		if !results[i].Replayed {
			fresh++
			require.False(t, results[i].Token.IsZero())
		}
	}
	require.Equal(t, 1, fresh)
	require.Equal(t, 1, e.count("t1"))
}

// ---------------------------------------------------------------- batch

func TestCreateBatchPerItemResults(t *testing.T) {
	e := newEnv(t)
	bad := input("not an email")
	unknown := input("carol@example.com")
	unknown.TemplateKey = "nope"
	items, err := e.m.CreateBatch(e.ctx(), []invite.CreateInput{
		input("ada@example.com"), bad, input("bob@example.com"), input("ADA@example.com"), unknown,
	})
	require.NoError(t, err)
	require.Len(t, items, 5)
	require.NoError(t, items[0].Err)
	require.False(t, items[0].Result.Token.IsZero())
	requireValidation(t, items[1].Err, "Invitee.Email")
	require.Nil(t, items[1].Result)
	require.NoError(t, items[2].Err)
	require.Equal(t, "bob@example.com", items[2].Result.Invitation.Invitee.Email)
	require.ErrorIs(t, items[3].Err, invite.ErrAlreadyExists)
	require.ErrorIs(t, items[4].Err, invite.ErrUnknownTemplate)
	require.Equal(t, 2, e.count("t1"))
	for _, i := range []int{0, 2} {
		_, err := e.m.Lookup(e.ctx(), items[i].Result.Token.Reveal())
		require.NoError(t, err)
	}
}

func TestCreateBatchLimits(t *testing.T) {
	e := newEnv(t)
	ins := make([]invite.CreateInput, invite.MaxBatchSize+1)
	for i := range ins {
		ins[i] = input(fmt.Sprintf("u%d@example.com", i))
	}
	items, err := e.m.CreateBatch(e.ctx(), ins)
	requireValidation(t, err, "Batch")
	require.Nil(t, items)
	require.Zero(t, e.count("t1"))

	items, err = e.m.CreateBatch(e.ctx(), ins[:invite.MaxBatchSize])
	require.NoError(t, err)
	require.Len(t, items, invite.MaxBatchSize)
	for _, it := range items {
		require.NoError(t, it.Err)
	}
	require.Equal(t, invite.MaxBatchSize, e.count("t1"))

	ctx, cancel := context.WithCancel(e.ctx())
	cancel()
	items, err = e.m.CreateBatch(ctx, []invite.CreateInput{input("x@example.com"), input("y@example.com")})
	require.NoError(t, err)
	for _, it := range items {
		require.ErrorIs(t, it.Err, context.Canceled)
	}
}

// ---------------------------------------------------------------- upsert

func TestUpsert(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"team": "engines"}
	r1, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.True(t, r1.Created)
	require.False(t, r1.Token.IsZero())

	e.clock.Advance(3 * time.Hour)
	in2 := input("ADA@example.com")
	in2.GivenName = "Augusta"
	in2.Roles = []string{"admin"}
	in2.Data = map[string]string{"team": "looms"}
	in2.ExpiresIn = 48 * time.Hour
	r2, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.False(t, r2.Created)
	require.True(t, r2.Token.IsZero(), "an update returns no secret")
	require.Equal(t, r1.Invitation.ID, r2.Invitation.ID)
	require.Equal(t, "Augusta", r2.Invitation.GivenName)
	require.Equal(t, []string{"admin"}, r2.Invitation.Roles)
	require.Equal(t, "looms", r2.Invitation.Data["team"])
	require.Equal(t, managerNow(e.clock).Add(48*time.Hour), r2.Invitation.ExpiresAt, "expiry restarts")
	require.Equal(t, r1.Invitation.CreatedAt, r2.Invitation.CreatedAt)
	require.EqualValues(t, 2, r2.Invitation.Version)
	require.Equal(t, 1, e.count("t1"))
	require.Empty(t, e.notes.Messages())

	// The first secret still works and sees the new data.
	got, err := e.m.Lookup(e.ctx(), r1.Token.Reveal())
	require.NoError(t, err)
	require.Equal(t, "looms", got.Data["team"])

	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventUpdated}, e.events.Types())
	upd := e.events.Events()[1]
	require.Equal(t, "engines", upd.Old.Data["team"])
	require.Equal(t, "looms", upd.New.Data["team"])

	// Once accepted, an upsert creates a new invitation.
	_, err = e.m.Accept(e.ctx(), r1.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	r3, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.True(t, r3.Created)
	require.NotEqual(t, r1.Invitation.ID, r3.Invitation.ID)

	// A lapsed one is not refreshed either.
	e.clock.Advance(49 * time.Hour)
	r4, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.True(t, r4.Created)
	require.Equal(t, invite.StateExpired, e.get("t1", r3.Invitation.ID).State)

	// Invalid input stores nothing.
	before := e.count("t1")
	_, err = e.m.Upsert(e.ctx(), input("nope"))
	requireValidation(t, err, "Invitee.Email")
	require.Equal(t, before, e.count("t1"))
}

func TestUpsertAmbiguousInvitee(t *testing.T) {
	e := newEnv(t)
	a := input("ada@example.com")
	e.create(a)
	b := input("")
	b.Invitee = invite.Invitee{Phone: "+4930123456"}
	e.create(b)
	both := input("ada@example.com")
	both.Invitee.Phone = "+4930123456"
	_, err := e.m.Upsert(e.ctx(), both)
	require.ErrorIs(t, err, invite.ErrConflict)
}

// ---------------------------------------------------------------- reads

func TestConcurrentUpsertCreatesOnce(t *testing.T) {
	e := newEnv(t)
	const n = 12
	results := make([]*invite.UpsertResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.Data = map[string]string{"i": fmt.Sprint(i)}
			results[i], errs[i] = e.m.Upsert(e.ctx(), in)
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0].Invitation.ID, results[i].Invitation.ID)
		if results[i].Created {
			created++
			require.False(t, results[i].Token.IsZero())
		} else {
			require.True(t, results[i].Token.IsZero())
		}
	}
	require.Equal(t, 1, created)
	require.Equal(t, 1, e.count("t1"))
	require.EqualValues(t, n, e.get("t1", results[0].Invitation.ID).Version, "one create and n-1 updates")
}

func TestConcurrentSupersedeLeavesOneOpen(t *testing.T) {
	e := newEnv(t)
	const n = 10
	results := make([]*invite.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.Supersede = true
			results[i], errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	ok := 0
	for i := range n {
		if errs[i] == nil {
			ok++
			continue
		}
		// Losing every retry against the others is the only acceptable failure.
		require.True(t, errors.Is(errs[i], invite.ErrAlreadyExists) || errors.Is(errs[i], invite.ErrConflict), "%v", errs[i])
	}
	require.Positive(t, ok)
	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StatePending}}})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 1, "exactly one open invitation")
	revoked, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StateRevoked}}})
	require.NoError(t, err)
	require.Len(t, revoked.Invitations, ok-1)
	// Only the open one's token works.
	for i := range n {
		if errs[i] != nil {
			continue
		}
		_, err := e.m.Lookup(e.ctx(), results[i].Token.Reveal())
		if results[i].Invitation.ID == page.Invitations[0].ID {
			require.NoError(t, err)
		} else {
			requireTransition(t, err, invite.StateRevoked)
		}
	}
}

func TestUpsertIsNotBlockedByALapsedInvitationOnAnotherKey(t *testing.T) {
	e := newEnv(t)
	byPhone := input("")
	byPhone.Invitee = invite.Invitee{Phone: "+4930123456"}
	byPhone.ExpiresIn = time.Hour
	lapsed := e.create(byPhone)
	live := e.create(input("ada@example.com"))
	e.clock.Advance(2 * time.Hour)

	both := input("ada@example.com")
	both.Invitee.Phone = "+4930123456"
	up, err := e.m.Upsert(e.ctx(), both)
	require.NoError(t, err)
	require.False(t, up.Created)
	require.Equal(t, live.Invitation.ID, up.Invitation.ID)
	require.Equal(t, "+4930123456", up.Invitation.Invitee.Phone)
	got := e.get("t1", lapsed.Invitation.ID)
	require.Equal(t, invite.StateExpired, got.State)
	require.False(t, got.ClosedAt.IsZero(), "the lapsed invitation was closed, with its event")
	require.Contains(t, e.events.Types(), invite.EventExpired)
}

func TestCreateNeedsAnInviteeInEveryDeliveryMode(t *testing.T) {
	e := newEnv(t)
	in := input("")
	in.Invitee = invite.Invitee{}
	_, err := e.m.Create(e.ctx(), in)
	requireValidation(t, err, "Invitee")
	require.ErrorIs(t, err, invite.ErrNoDeliveryChannel)
	require.Zero(t, e.count("t1"))
}

// TestIdempotencyKeyRefusesAnotherRequest: a key replays only the request
// it was first used with (any field), at any later time.
func TestIdempotencyKeyRefusesAnotherRequest(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.IdempotencyKey = "req-7"
	in.ExpiresInDays = new(3)
	first := e.create(in)

	e.clock.Advance(time.Hour)
	again, err := e.m.Create(e.ctx(), in)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Invitation.ID, again.Invitation.ID)
	// The same request written differently: the email's case, as stored.
	same := in
	same.Invitee.Email = "ADA@example.com"
	again, err = e.m.Create(e.ctx(), same)
	require.NoError(t, err)
	require.True(t, again.Replayed)

	// A resend keeps the digest.
	_, err = e.m.Resend(e.ctx(), "t1", first.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	again, err = e.m.Create(e.ctx(), in)
	require.NoError(t, err)
	require.True(t, again.Replayed)

	for name, edit := range map[string]func(*invite.CreateInput){
		"roles":    func(in *invite.CreateInput) { in.Roles = []string{"admin"} },
		"data":     func(in *invite.CreateInput) { in.Data = map[string]string{"plan": "pro"} },
		"expiry":   func(in *invite.CreateInput) { in.ExpiresInDays = new(4) },
		"delivery": func(in *invite.CreateInput) { in.WithCode = true },
	} {
		t.Run(name, func(t *testing.T) {
			other := in
			edit(&other)
			_, err := e.m.Create(e.ctx(), other)
			require.ErrorIs(t, err, invite.ErrIdempotencyMismatch)
			require.Equal(t, 1, e.count("t1"))
		})
	}
}
