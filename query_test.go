package invite_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestGet(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"k": "v"}
	in.ExpiresIn = 2 * time.Hour
	res := e.create(in)
	id := res.Invitation.ID

	_, err := e.m.Get(e.ctx(), "t2", id)
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Get(e.ctx(), "t1", "no-such-id")
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Get(e.ctx(), "", id)
	requireValidation(t, err, "TenantID")
	_, err = e.m.Get(e.ctx(), "t1", "")
	requireValidation(t, err, "ID")

	// Values returned are copies.
	got := e.get("t1", id)
	got.Roles[0] = "owner"
	got.Data["k"] = "changed"
	res.Invitation.Data["k"] = "changed too"
	again := e.get("t1", id)
	require.Equal(t, "member", again.Roles[0])
	require.Equal(t, "v", again.Data["k"])

	// Expiry is derived on read.
	e.clock.Advance(2*time.Hour - time.Microsecond)
	require.Equal(t, invite.StatePending, e.get("t1", id).State)
	e.clock.Advance(time.Microsecond)
	require.Equal(t, invite.StateExpired, e.get("t1", id).State)
	require.Equal(t, invite.StatePending, e.record("t1", id).Invitation.State, "reads do not write")
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 250 {
		if i%3 == 0 {
			e.clock.Advance(time.Second) // the others share CreatedAt: ID breaks ties
		}
		want = append(want, e.create(input(fmt.Sprintf("u%03d@example.com", i))).Invitation.ID)
	}
	all := func(desc bool, limit int) ([]*invite.Invitation, []int) {
		t.Helper()
		var got []*invite.Invitation
		var sizes []int
		cursor := ""
		for {
			page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Cursor: cursor, Limit: limit, Descending: desc})
			require.NoError(t, err)
			sizes = append(sizes, len(page.Invitations))
			got = append(got, page.Invitations...)
			if page.NextCursor == "" {
				return got, sizes
			}
			require.Less(t, len(sizes), 100, "pagination does not end")
			cursor = page.NextCursor
		}
	}
	ids := func(invs []*invite.Invitation) []string {
		var out []string
		for _, inv := range invs {
			out = append(out, inv.ID)
		}
		return out
	}
	sorted := func(invs []*invite.Invitation) bool {
		return slices.IsSortedFunc(invs, func(a, b *invite.Invitation) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}

	got, sizes := all(false, 0)
	require.Equal(t, []int{100, 100, 50}, sizes, "default page size is 100")
	require.ElementsMatch(t, want, ids(got))
	require.True(t, sorted(got))

	got, sizes = all(true, 60)
	require.Equal(t, []int{60, 60, 60, 60, 10}, sizes)
	require.ElementsMatch(t, want, ids(got))
	slices.Reverse(got)
	require.True(t, sorted(got))

	got, sizes = all(false, 125)
	require.Equal(t, []int{125, 125}, sizes, "no empty last page")
	require.Len(t, got, 250)

	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: invite.MaxPageSize})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 250)
	require.Empty(t, page.NextCursor)

	// Invitations created between pages are neither repeated nor skipped.
	page, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 100})
	require.NoError(t, err)
	seen := ids(page.Invitations)
	for i := range 5 {
		e.clock.Advance(time.Second)
		want = append(want, e.create(input(fmt.Sprintf("late%d@example.com", i))).Invitation.ID)
	}
	cursor := page.NextCursor
	for cursor != "" {
		page, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 100, Cursor: cursor})
		require.NoError(t, err)
		seen = append(seen, ids(page.Invitations)...)
		cursor = page.NextCursor
	}
	require.ElementsMatch(t, want, seen)

	// Other tenants see none of it.
	page, err = e.m.List(e.ctx(), "t2", invite.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Invitations)
	require.Empty(t, page.NextCursor)
}

func TestListFilters(t *testing.T) {
	e := newEnv(t)
	t0 := managerNow(e.clock)
	mk := func(iv invite.Invitee, inviter string, expiresIn time.Duration) *invite.Result {
		in := input("")
		in.Invitee = iv
		in.Inviter.ID = inviter
		in.ExpiresIn = expiresIn
		e.clock.Advance(time.Minute)
		return e.create(in)
	}
	a := mk(invite.Invitee{Email: "Ada@Example.com"}, "i1", week)
	b := mk(invite.Invitee{Phone: "+49 30 123456"}, "i2", week)
	c := mk(invite.Invitee{UserID: "u-3"}, "i1", week)
	d := mk(invite.Invitee{Email: "dan@example.com"}, "i2", time.Hour)
	_, err := e.m.Accept(e.ctx(), b.Token.Reveal(), invite.AcceptInput{Subject: "s"})
	require.NoError(t, err)
	_, err = e.m.Revoke(e.ctx(), "t1", c.Invitation.ID, "")
	require.NoError(t, err)
	e.clock.Advance(2 * time.Hour) // d lapses

	ids := func(f invite.Filter) []string {
		t.Helper()
		page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: f})
		require.NoError(t, err)
		var out []string
		for _, inv := range page.Invitations {
			out = append(out, inv.ID)
			require.Equal(t, e.get("t1", inv.ID).State, inv.State, "List reports the effective state")
		}
		return out
	}
	A, B, C, D := a.Invitation.ID, b.Invitation.ID, c.Invitation.ID, d.Invitation.ID
	cases := []struct {
		name   string
		filter invite.Filter
		want   []string
	}{
		{"zero filter hides expired", invite.Filter{}, []string{A, B, C}},
		{"include expired", invite.Filter{IncludeExpired: true}, []string{A, B, C, D}},
		{"accepted", invite.Filter{States: []invite.State{invite.StateAccepted}}, []string{B}},
		{"expired by state", invite.Filter{States: []invite.State{invite.StateExpired}}, []string{D}},
		{"pending or revoked", invite.Filter{States: []invite.State{invite.StatePending, invite.StateRevoked}}, []string{A, C}},
		{"email any case", invite.Filter{Email: "ada@EXAMPLE.com"}, []string{A}},
		{"email expired", invite.Filter{Email: "dan@example.com"}, nil},
		{"phone any format", invite.Filter{Phone: "0049 (30) 12-34-56"}, []string{B}},
		{"user", invite.Filter{UserID: "u-3"}, []string{C}},
		{"inviter", invite.Filter{InviterID: "i2", IncludeExpired: true}, []string{B, D}},
		{"created from", invite.Filter{CreatedFrom: c.Invitation.CreatedAt, IncludeExpired: true}, []string{C, D}},
		{"created to is exclusive", invite.Filter{CreatedTo: c.Invitation.CreatedAt}, []string{A, B}},
		{"window", invite.Filter{CreatedFrom: t0, CreatedTo: t0.Add(90 * time.Second)}, []string{A}},
		{"nothing", invite.Filter{Email: "zed@example.com"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, ids(c.filter))
		})
	}
}

// ---------------------------------------------------------------- update

func TestLookupNeverMutates(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"company": "Engines Ltd"}
	in.WithCode = true
	res := e.create(in)
	before := e.record("t1", res.Invitation.ID)
	nEvents := len(e.events.Events())
	for range 5 {
		inv, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
		require.NoError(t, err)
		require.Equal(t, res.Invitation.ID, inv.ID)
		require.Equal(t, "Engines Ltd", inv.Data["company"])
		require.Equal(t, "Grace Hopper", inv.Inviter.Name)
		inv.Data["company"] = "changed" // a copy
	}
	require.Equal(t, before, e.record("t1", res.Invitation.ID))
	require.Len(t, e.events.Events(), nEvents)

	e.clock.Advance(week)
	_, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrExpired)
	require.Equal(t, before, e.record("t1", res.Invitation.ID))

	acc := e.create(input("bob@example.com"))
	_, err = e.m.Accept(e.ctx(), acc.Token.Reveal(), invite.AcceptInput{Subject: "bob"})
	require.NoError(t, err)
	_, err = e.m.Lookup(e.ctx(), acc.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
}

// ---------------------------------------------------------------- accept

// TestReturnedValuesAreCopies changes everything the Manager hands back and
// checks that the stored invitation did not change with it.
func TestReturnedValuesAreCopies(t *testing.T) {
	e := newEnv(t)
	in := codeInput("ada@example.com", "")
	in.Data = map[string]string{"k": "v"}
	in.FormData = map[string]map[string]string{"f": {"x": "y"}}
	in.Metadata = json.RawMessage(`{"a":1}`)
	in.Groups = []string{"g"}
	res := e.create(in)
	id := res.Invitation.ID
	want := e.record("t1", id).Invitation

	scribble := func(inv *invite.Invitation) {
		t.Helper()
		require.NotNil(t, inv)
		inv.Roles[0] = "owner"
		inv.Groups[0] = "root"
		inv.Data["k"] = "changed"
		inv.Data["new"] = "added"
		inv.FormData["f"]["x"] = "changed"
		inv.Metadata[2] = 'b'
		inv.GivenName = "Mallory"
	}
	check := func(step string) {
		t.Helper()
		got := e.record("t1", id).Invitation
		require.Equal(t, want.Roles, got.Roles, step)
		require.Equal(t, want.Groups, got.Groups, step)
		require.Equal(t, want.Data, got.Data, step)
		require.Equal(t, want.FormData, got.FormData, step)
		require.Equal(t, want.Metadata, got.Metadata, step)
		require.Equal(t, want.GivenName, got.GivenName, step)
	}

	scribble(res.Invitation)
	check("create")
	scribble(e.get("t1", id))
	check("get")
	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{})
	require.NoError(t, err)
	scribble(page.Invitations[0])
	check("list")
	inv, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.NoError(t, err)
	scribble(inv)
	check("lookup")
	inv, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: id}, res.Code.Reveal())
	require.NoError(t, err)
	scribble(inv)
	check("verify code")
	name := "Augusta"
	inv, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, FamilyName: &name})
	require.NoError(t, err)
	want.FamilyName = name
	scribble(inv)
	check("update")
	r2, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	scribble(r2.Invitation)
	check("resend")
	up, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	want = e.record("t1", id).Invitation
	scribble(up.Invitation)
	check("upsert")
	acc, err := e.m.Accept(e.ctx(), r2.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	scribble(acc.Invitation)
	check("accept")

	// The events the sink got were not changed by any of it either.
	for _, ev := range e.events.Events() {
		for _, snap := range []*invite.Invitation{ev.Old, ev.New} {
			if snap != nil {
				require.NotEqual(t, "Mallory", snap.GivenName)
				require.NotEqual(t, "changed", snap.Data["k"])
			}
		}
	}
}
