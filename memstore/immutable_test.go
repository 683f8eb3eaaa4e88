package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// memstore decodes string fields as views of its immutable blobs.
// TestStoredVersionsNeverChange checks the promise that makes this safe:
// once a version has been stored, nothing changes its bytes, neither the
// Manager nor a caller (or EventSink) changing what it was given.
func TestStoredVersionsNeverChange(t *testing.T) {
	ctx := context.Background()
	s := New()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sink := invite.EventSinkFunc(func(_ context.Context, evs []invite.Event) error {
		for _, e := range evs {
			vandalize(e.Old)
			vandalize(e.New)
		}
		return nil
	})
	notifier := invite.NotifierFunc(func(context.Context, invite.Message) error { return nil })
	m, err := invite.New(s, invite.Config{Now: clock, EventSink: sink, Notifier: notifier, KeepPreviousTokens: true,
		LinkTemplate:   "https://app.example/invite?t={{.Token}}",
		CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	require.NoError(t, err)

	seen := map[*stored][]byte{} // every version ever stored -> its bytes then
	check := func(step string) {
		t.Helper()
		for st, want := range seen {
			require.Equal(t, want, st.blob, "%s changed a stored version", step)
		}
		for i := range s.shards {
			for _, tn := range s.shards[i].tenants {
				for _, e := range tn.order {
					if _, ok := seen[e.cur]; !ok {
						seen[e.cur] = bytes.Clone(e.cur.blob)
					}
					// and what is stored is still what was written
					require.NotContains(t, e.cur.decode().Invitation.Roles, "vandal", step)
				}
			}
		}
	}
	in := func(email string) invite.CreateInput {
		return invite.CreateInput{TenantID: "t1", Invitee: invite.Invitee{Email: email}, GivenName: "Ada",
			Roles: []string{"member", "viewer"}, Groups: []string{"eng"}, Data: map[string]string{"team": "core"},
			FormData: map[string]map[string]string{"signup": {"city": "Paris"}},
			Metadata: json.RawMessage(`{"plan":"pro"}`), WithCode: true}
	}

	res, err := m.Create(ctx, in("a@example.com"))
	require.NoError(t, err)
	vandalize(res.Invitation)
	check("Create")
	id := res.Invitation.ID

	inv, err := m.Lookup(ctx, res.Token.Reveal())
	require.NoError(t, err)
	vandalize(inv)
	check("Lookup")

	res2, err := m.Resend(ctx, "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	vandalize(res2.Invitation)
	check("Resend")

	roles := []string{"admin"}
	inv, err = m.Update(ctx, invite.UpdateInput{TenantID: "t1", ID: id, Roles: &roles})
	require.NoError(t, err)
	vandalize(inv)
	roles[0] = "changed by the caller"
	check("Update")

	inv, err = m.MarkSent(ctx, "t1", id)
	require.NoError(t, err)
	vandalize(inv)
	check("MarkSent")

	_, err = m.VerifyCode(ctx, invite.CodeRef{TenantID: "t1", InvitationID: id}, "WRONG1")
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	check("VerifyCode")

	ur, err := m.Upsert(ctx, in("a@example.com"))
	require.NoError(t, err)
	require.False(t, ur.Created)
	vandalize(ur.Invitation)
	check("Upsert")

	acc, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	vandalize(acc.Invitation)
	check("Accept")
	acc, err = m.Accept(ctx, res2.Token.Reveal(), invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	vandalize(acc.Invitation)
	check("Accept replay")

	got, err := m.Get(ctx, "t1", id)
	require.NoError(t, err)
	vandalize(got)
	check("Get")

	b, err := m.Create(ctx, in("b@example.com"))
	require.NoError(t, err)
	sup := in("b@example.com")
	sup.Supersede = true
	c, err := m.Create(ctx, sup)
	require.NoError(t, err)
	vandalize(c.Invitation)
	check("Create superseding")
	_, err = m.Reject(ctx, c.Token.Reveal(), "no thanks")
	require.NoError(t, err)
	check("Reject")

	d, err := m.Create(ctx, in("d@example.com"))
	require.NoError(t, err)
	inv, err = m.Revoke(ctx, "t1", d.Invitation.ID, "")
	require.NoError(t, err)
	vandalize(inv)
	check("Revoke")

	_, err = m.Create(ctx, in("e@example.com"))
	require.NoError(t, err)
	advance(8 * 24 * time.Hour)
	n, err := m.ExpireDue(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	check("ExpireDue")

	page, err := m.List(ctx, "t1", invite.ListOptions{})
	require.NoError(t, err)
	for _, inv := range page.Invitations {
		vandalize(inv)
	}
	check("List")

	require.NoError(t, m.Delete(ctx, "t1", b.Invitation.ID, 0))
	check("Delete")
	require.Greater(t, len(seen), 10)
}

// vandalize changes everything a caller could change through inv.
func vandalize(inv *invite.Invitation) {
	if inv == nil {
		return
	}
	for i := range inv.Roles {
		inv.Roles[i] = "vandal"
	}
	for i := range inv.Groups {
		inv.Groups[i] = "vandal"
	}
	for k := range inv.Data {
		inv.Data[k] = "vandal"
	}
	for _, f := range inv.FormData {
		for k := range f {
			f[k] = "vandal"
		}
	}
	for i := range inv.Metadata {
		inv.Metadata[i] = 'V'
	}
	inv.GivenName = "vandal"
	inv.Version = -1
}
