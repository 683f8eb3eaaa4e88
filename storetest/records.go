package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/stretchr/testify/require"
)

// base is the instant the records of the suite are built around: UTC, with
// a microsecond part, well inside every database's timestamp range.
var base = time.Date(2027, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// The tenants of the suite. Every subtest has a store of its own, so fixed
// names cannot collide between subtests.
const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
	tenantC = "tenant-c"
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func newHash() invite.TokenHash {
	_, h, err := invite.MintToken(invite.DefaultTokenPrefix)
	if err != nil {
		panic(err) // the default prefix is valid
	}
	return h
}

var phoneSeq atomic.Int64

// newPhone returns an E.164 number no other call returns.
func newPhone() string { return fmt.Sprintf("+1555%07d", phoneSeq.Add(1)%10_000_000) }

// newEmail returns an address no other call returns.
func newEmail() string { return "invitee-" + newID() + "@example.com" }

// us returns base plus n microseconds.
func us(n int64) time.Time { return base.Add(time.Duration(n) * time.Microsecond) }

// newRecord returns a valid pending record of tenantID: a fresh UUIDv7 id,
// token hash and email, version 1, created at base, expiring a week later.
// The edits are applied in order.
func newRecord(tenantID string, edits ...func(*invite.Record)) *invite.Record {
	r := &invite.Record{
		Invitation: invite.Invitation{
			ID:          newID(),
			TenantID:    tenantID,
			Invitee:     invite.Invitee{Email: newEmail()},
			TemplateKey: "invite",
			State:       invite.StatePending,
			CreatedAt:   base,
			UpdatedAt:   base,
			IssuedAt:    base,
			ExpiresAt:   base.Add(7 * 24 * time.Hour),
			Version:     1,
		},
		Credentials: invite.Credentials{TokenHash: newHash()},
	}
	for _, e := range edits {
		e(r)
	}
	return r
}

// Edits for newRecord.

func invitee(iv invite.Invitee) func(*invite.Record) {
	return func(r *invite.Record) { r.Invitation.Invitee = iv }
}

func email(e string) func(*invite.Record) {
	return invitee(invite.Invitee{Email: e})
}

func created(at time.Time) func(*invite.Record) {
	return func(r *invite.Record) {
		r.Invitation.CreatedAt, r.Invitation.UpdatedAt, r.Invitation.IssuedAt = at, at, at
		if !r.Invitation.ExpiresAt.After(at) {
			r.Invitation.ExpiresAt = at.Add(7 * 24 * time.Hour)
		}
	}
}

func expires(at time.Time) func(*invite.Record) {
	return func(r *invite.Record) { r.Invitation.ExpiresAt = at }
}

func idemKey(k string) func(*invite.Record) {
	return func(r *invite.Record) { r.Invitation.IdempotencyKey = k }
}

func previous(hs ...invite.TokenHash) func(*invite.Record) {
	return func(r *invite.Record) {
		for i, h := range hs {
			r.Credentials.PreviousTokens = append(r.Credentials.PreviousTokens,
				invite.PreviousToken{Hash: h, ExpiresAt: r.Invitation.ExpiresAt.Add(-time.Duration(i+1) * time.Hour)})
		}
	}
}

// state sets the stored state; a closed state also gets a ClosedAt (an hour
// after creation unless at is given).
func state(s invite.State, at ...time.Time) func(*invite.Record) {
	return func(r *invite.Record) {
		inv := &r.Invitation
		inv.State = s
		switch {
		case len(at) > 0:
			inv.ClosedAt = at[0]
		case !s.Open():
			inv.ClosedAt = inv.CreatedAt.Add(time.Hour)
		}
		if !inv.ClosedAt.IsZero() {
			inv.UpdatedAt = inv.ClosedAt
		}
		if s == invite.StateAccepted {
			inv.AcceptedBy = "subject-" + inv.ID
		}
		if s == invite.StateSent {
			inv.SentAt, inv.SendCount = inv.IssuedAt.Add(time.Second), 1
		}
	}
}

// fullRecord returns an open record with every field set, times with
// distinct microsecond parts, unicode text, nested maps and JSON metadata.
func fullRecord(tenantID string) *invite.Record {
	_, codeHash, err := invite.MintCode(8, invitetest.FastCodeHash)
	if err != nil {
		panic(err) // valid constant arguments
	}
	r := newRecord(tenantID)
	inv := &r.Invitation
	inv.Invitee = invite.Invitee{
		Email:  "Zoe.Muller+" + inv.ID[len(inv.ID)-12:] + "@Example.COM",
		Phone:  newPhone(),
		UserID: "user-" + inv.ID,
	}
	inv.GivenName = "Zoë"
	inv.FamilyName = "Müller-O'Brien 李"
	inv.Inviter = invite.Inviter{ID: "admin-7", Name: "Ada «Admin» Lovelace"}
	inv.AccountName = "Acme, Inc. 🚀"
	inv.Roles = []string{"admin", "billing", "viewer"}
	inv.Groups = []string{"eng", "ops"}
	inv.Data = map[string]string{"team": "blue", "emoji": "🎉", "empty": "", "quote": `"x" \ y`}
	inv.FormData = map[string]map[string]string{
		"signup":  {"company": "Acme", "size": "10-50"},
		"profile": {"title": "Engineer"},
	}
	inv.Variables = map[string]string{"application_name": "Ledger ✓", "quote": `"x" \ y`}
	inv.Metadata = json.RawMessage(`{"flags":["a","b"],"n":1.5,"nested":{"ok":true,"none":null},"s":"ü"}`)
	inv.ClientID = "client-web"
	inv.IdentityProviderID = "idp-google"
	inv.RedirectURI = "https://app.example.com/join?src=mail&x=1"
	inv.LinkTemplate = "https://app.example.com/i/{{.Token}}?code={{.Code}}"
	inv.TemplateKey = "welcome"
	inv.Locale = "pt-BR"
	inv.RequireEmailMatch = true
	inv.HasCode = true
	inv.State = invite.StateSent
	inv.CreatedAt = us(1)
	inv.IssuedAt = us(1_800_000_007)
	inv.SentAt = us(1_860_000_011)
	inv.SendCount = 3
	inv.ResendCount = 2
	inv.LastResentAt = us(1_800_000_009)
	inv.UpdatedAt = us(1_860_000_013)
	inv.ExpiresAt = us(7*24*3600_000_000 + 999_999)
	inv.IdempotencyKey = "idem-" + inv.ID
	r.Credentials = invite.Credentials{
		TokenHash: newHash(),
		PreviousTokens: []invite.PreviousToken{
			{Hash: newHash(), ExpiresAt: us(2*24*3600_000_000 + 3)},
			{Hash: newHash(), ExpiresAt: us(24*3600_000_000 + 5)},
		},
		CodeHash:      codeHash,
		CodeFailures:  2,
		RequestDigest: []byte("0123456789abcdef0123456789abcdef"),
	}
	return r
}

// closedRecord is fullRecord accepted, with a reason and a ClosedAt.
func closedRecord(tenantID string) *invite.Record {
	r := fullRecord(tenantID)
	inv := &r.Invitation
	inv.State = invite.StateAccepted
	inv.AcceptedBy = "subject-" + inv.ID
	inv.Reason = "welcome aboard\nsecond line"
	inv.ClosedAt = us(7_200_654_321)
	inv.UpdatedAt = inv.ClosedAt
	return r
}

// ---------------------------------------------------------------- writes

func ins(r *invite.Record) invite.Write { return invite.Write{Record: r} }

func upd(r *invite.Record, expect int64) invite.Write {
	return invite.Write{Record: r, Expect: expect}
}

func del(r *invite.Record) invite.Write {
	return invite.Write{Record: r, Expect: r.Invitation.Version, Delete: true}
}

// batch wraps writes in a Batch with one event per write, as the Manager
// builds them (stores with an outbox persist them).
func batch(ws ...invite.Write) *invite.Batch {
	b := &invite.Batch{Writes: ws}
	for _, w := range ws {
		inv := w.Record.Invitation.Clone()
		ev := invite.Event{ID: newID(), Time: inv.UpdatedAt, TenantID: inv.TenantID, InvitationID: inv.ID,
			Version: inv.Version, Actor: invite.Actor{Kind: invite.ActorSystem}}
		switch {
		case w.Expect == 0:
			ev.Type, ev.New = invite.EventCreated, inv
		case w.Delete:
			ev.Type, ev.Old = invite.EventDeleted, inv
		default:
			ev.Type, ev.New = invite.EventUpdated, inv
		}
		b.Events = append(b.Events, ev)
	}
	return b
}

// apply applies writes as one batch and returns Apply's error.
func apply(t *testing.T, st invite.Store, ws ...invite.Write) error {
	t.Helper()
	return st.Apply(t.Context(), batch(ws...))
}

// mustApply applies writes as one batch and fails the test on an error.
func mustApply(t *testing.T, st invite.Store, ws ...invite.Write) {
	t.Helper()
	require.NoError(t, apply(t, st, ws...), "Apply")
}

// mustInsert inserts each record in a batch of its own.
func mustInsert(t *testing.T, st invite.Store, recs ...*invite.Record) {
	t.Helper()
	for _, r := range recs {
		require.NoError(t, apply(t, st, ins(r)), "Apply inserting %s", r.Invitation.ID)
	}
}

// next returns a copy of r for an update: version bumped, UpdatedAt later.
func next(r *invite.Record, edits ...func(*invite.Record)) *invite.Record {
	n := r.Clone()
	n.Invitation.Version++
	n.Invitation.UpdatedAt = n.Invitation.UpdatedAt.Add(time.Minute)
	for _, e := range edits {
		e(n)
	}
	return n
}

// ---------------------------------------------------------------- reads

func mustGet(t *testing.T, st invite.Store, tenantID, id string) *invite.Record {
	t.Helper()
	r, err := st.Get(t.Context(), tenantID, id)
	require.NoError(t, err, "Get(%q, %q)", tenantID, id)
	require.NotNil(t, r, "Get(%q, %q) returned nil", tenantID, id)
	return r
}

// requireStored asserts that the store holds exactly want.
func requireStored(t *testing.T, st invite.Store, want *invite.Record) {
	t.Helper()
	requireRecordEqual(t, want, mustGet(t, st, want.Invitation.TenantID, want.Invitation.ID), "Get")
}

// requireGone asserts that Get finds no record with r's tenant and id.
func requireGone(t *testing.T, st invite.Store, r *invite.Record) {
	t.Helper()
	_, err := st.Get(t.Context(), r.Invitation.TenantID, r.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound, "Get(%q, %q)", r.Invitation.TenantID, r.Invitation.ID)
}

func requireTokenNotFound(t *testing.T, st invite.Store, h invite.TokenHash) {
	t.Helper()
	_, err := st.GetByTokenHash(t.Context(), h)
	require.ErrorIs(t, err, invite.ErrNotFound, "GetByTokenHash")
}

func requireTokenFinds(t *testing.T, st invite.Store, h invite.TokenHash, want *invite.Record) {
	t.Helper()
	got, err := st.GetByTokenHash(t.Context(), h)
	require.NoError(t, err, "GetByTokenHash")
	requireRecordEqual(t, want, got, "GetByTokenHash")
}

func mustFindOpen(t *testing.T, st invite.Store, tenantID string, iv invite.Invitee) []*invite.Record {
	t.Helper()
	got, err := st.FindOpen(t.Context(), tenantID, iv)
	require.NoError(t, err, "FindOpen")
	return got
}

// requireOpen asserts that FindOpen(tenantID, iv) returns exactly want, in
// this order.
func requireOpen(t *testing.T, st invite.Store, tenantID string, iv invite.Invitee, want ...*invite.Record) {
	t.Helper()
	got := mustFindOpen(t, st, tenantID, iv)
	require.Equal(t, recordIDs(want), recordIDs(got), "FindOpen(%q, %+v): ids", tenantID, iv)
	for i := range want {
		requireRecordEqual(t, want[i], got[i], "FindOpen")
	}
}

func recordIDs(rs []*invite.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Invitation.ID
	}
	return out
}

func invitationIDs(invs []*invite.Invitation) []string {
	out := make([]string, len(invs))
	for i, inv := range invs {
		out[i] = inv.ID
	}
	return out
}

// sortedIDs returns the ids of rs ordered by (CreatedAt, ID), reversed when
// desc.
func sortedIDs(rs []*invite.Record, desc bool) []string {
	rs = slices.Clone(rs)
	sort.Slice(rs, func(i, j int) bool {
		a, b := invite.CursorOf(&rs[i].Invitation), invite.CursorOf(&rs[j].Invitation)
		if desc {
			return b.Less(*a)
		}
		return a.Less(*b)
	})
	return recordIDs(rs)
}

// listAll pages through List with q until the cursor is nil and returns
// everything listed and the number of pages. Every page must respect
// q.Limit, and every cursor must be the position of its page's last item.
func listAll(t *testing.T, st invite.Store, tenantID string, q invite.Query) ([]*invite.Invitation, int) {
	t.Helper()
	var all []*invite.Invitation
	for pages := 1; ; pages++ {
		page, cur, err := st.List(t.Context(), tenantID, q)
		require.NoError(t, err, "List page %d", pages)
		require.LessOrEqual(t, len(page), q.Limit, "List page %d exceeds Limit", pages)
		all = append(all, page...)
		if cur == nil {
			return all, pages
		}
		require.NotEmpty(t, page, "List page %d is empty but returned a cursor", pages)
		requireCursorAt(t, cur, page[len(page)-1])
		if q.After != nil {
			require.False(t, cur.CreatedAt.Equal(q.After.CreatedAt) && cur.ID == q.After.ID,
				"List page %d returned the cursor it was given: paging does not advance", pages)
		}
		require.Less(t, pages, 100_000, "List never returned a nil cursor")
		q.After = cur
	}
}

// requireCursorAt asserts that c is the keyset position of inv.
func requireCursorAt(t *testing.T, c *invite.Cursor, inv *invite.Invitation) {
	t.Helper()
	require.Equal(t, inv.ID, c.ID, "cursor ID is not the last item's")
	require.True(t, c.CreatedAt.Equal(inv.CreatedAt), "cursor CreatedAt %s is not the last item's %s",
		c.CreatedAt.Format(time.RFC3339Nano), inv.CreatedAt.Format(time.RFC3339Nano))
	require.True(t, c.CreatedAt.Location() == time.UTC, "cursor CreatedAt is in %s, want UTC", c.CreatedAt.Location())
}

// ---------------------------------------------------------------- comparison

// requireRecordEqual asserts that got is want as a store must return it:
// every field equal, times equal and in UTC, Metadata equal as JSON, nil and
// empty slices and maps alike.
func requireRecordEqual(t *testing.T, want, got *invite.Record, where string) {
	t.Helper()
	require.NotNil(t, got, "%s returned a nil record", where)
	where = fmt.Sprintf("%s of invitation %s", where, want.Invitation.ID)
	requireInvitationEqual(t, &want.Invitation, &got.Invitation, where)
	w, g := want.Credentials, got.Credentials
	require.True(t, w.TokenHash == g.TokenHash, "%s: Credentials.TokenHash differs", where)
	require.Len(t, g.PreviousTokens, len(w.PreviousTokens), "%s: Credentials.PreviousTokens", where)
	for i := range w.PreviousTokens {
		require.True(t, w.PreviousTokens[i].Hash == g.PreviousTokens[i].Hash,
			"%s: Credentials.PreviousTokens[%d].Hash differs", where, i)
		requireTime(t, w.PreviousTokens[i].ExpiresAt, g.PreviousTokens[i].ExpiresAt,
			fmt.Sprintf("%s: Credentials.PreviousTokens[%d].ExpiresAt", where, i))
	}
	require.Equal(t, string(w.CodeHash), string(g.CodeHash), "%s: Credentials.CodeHash", where)
	require.Equal(t, w.CodeFailures, g.CodeFailures, "%s: Credentials.CodeFailures", where)
	require.Equal(t, string(w.RequestDigest), string(g.RequestDigest), "%s: Credentials.RequestDigest", where)
}

// requireInvitationEqual is requireRecordEqual for the invitation alone.
func requireInvitationEqual(t *testing.T, want, got *invite.Invitation, where string) {
	t.Helper()
	require.NotNil(t, got, "%s returned a nil invitation", where)
	w, g := want.Clone(), got.Clone()
	for _, f := range []struct {
		name string
		w, g *time.Time
	}{
		{"CreatedAt", &w.CreatedAt, &g.CreatedAt},
		{"UpdatedAt", &w.UpdatedAt, &g.UpdatedAt},
		{"IssuedAt", &w.IssuedAt, &g.IssuedAt},
		{"ExpiresAt", &w.ExpiresAt, &g.ExpiresAt},
		{"SentAt", &w.SentAt, &g.SentAt},
		{"ClosedAt", &w.ClosedAt, &g.ClosedAt},
		{"LastResentAt", &w.LastResentAt, &g.LastResentAt},
	} {
		requireTime(t, *f.w, *f.g, where+": "+f.name)
		*f.g = *f.w
	}
	if len(w.Metadata) == 0 {
		require.Empty(t, g.Metadata, "%s: Metadata was empty", where)
	} else {
		require.JSONEq(t, string(w.Metadata), string(g.Metadata), "%s: Metadata", where)
	}
	g.Metadata = w.Metadata
	normalize(w)
	normalize(g)
	require.Equal(t, w, g, "%s", where)
}

// requireTime asserts that got is the instant want, in UTC.
func requireTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	if want.IsZero() {
		require.True(t, got.IsZero(), "%s = %s, want the zero time", what, got.Format(time.RFC3339Nano))
		return
	}
	require.True(t, want.Equal(got), "%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	require.True(t, got.Location() == time.UTC, "%s is in %s, want UTC", what, got.Location())
}

// normalize makes nil and empty slices and maps alike.
func normalize(inv *invite.Invitation) {
	if len(inv.Roles) == 0 {
		inv.Roles = nil
	}
	if len(inv.Groups) == 0 {
		inv.Groups = nil
	}
	if len(inv.Data) == 0 {
		inv.Data = nil
	}
	if len(inv.FormData) == 0 {
		inv.FormData = nil
	}
	if len(inv.Variables) == 0 {
		inv.Variables = nil
	}
	for k, v := range inv.FormData {
		if v == nil {
			inv.FormData[k] = map[string]string{}
		}
	}
	if len(inv.Metadata) == 0 {
		inv.Metadata = nil
	}
}

// scribble overwrites every field of r in place, through every slice and
// map it holds, so that a store that kept (or handed out) a reference would
// show the change.
func scribble(r *invite.Record) {
	scribbleInvitation(&r.Invitation)
	c := &r.Credentials
	c.TokenHash[0] ^= 0xFF
	for i := range c.PreviousTokens {
		c.PreviousTokens[i].Hash[0] ^= 0xFF
		c.PreviousTokens[i].ExpiresAt = c.PreviousTokens[i].ExpiresAt.Add(time.Hour)
	}
	for i := range c.CodeHash {
		c.CodeHash[i] = 'X'
	}
	c.CodeFailures += 100
	for i := range c.RequestDigest {
		c.RequestDigest[i] = 'X'
	}
}

func scribbleInvitation(inv *invite.Invitation) {
	for i := range inv.Roles {
		inv.Roles[i] = "scribbled"
	}
	for i := range inv.Groups {
		inv.Groups[i] = "scribbled"
	}
	for k := range inv.Data {
		inv.Data[k] = "scribbled"
	}
	if inv.Data != nil {
		inv.Data["scribbled"] = "yes"
	}
	for _, m := range inv.FormData {
		for k := range m {
			m[k] = "scribbled"
		}
		if m != nil {
			m["scribbled"] = "yes"
		}
	}
	for i := range inv.Metadata {
		inv.Metadata[i] = ' '
	}
	inv.Invitee.Email = "scribbled@example.com"
	inv.GivenName = "Scribbled"
	inv.State = invite.StateRevoked
	inv.CreatedAt = inv.CreatedAt.Add(time.Hour)
	inv.ExpiresAt = inv.ExpiresAt.Add(-time.Hour)
	inv.Version += 100
}

// ---------------------------------------------------------------- concurrency

// race runs fn(i) for i in [0, n) on n goroutines released together and
// returns what each returned.
func race[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return out
}
