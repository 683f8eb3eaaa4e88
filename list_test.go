package invite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// The listing of the reference tenant-admin API (003: skip and count) and
// the search of the invite-and-register API (004: find with filters), at
// the Manager: validation, offset pages and counts. storetest covers each
// store's filtering.

// TestListFilterValidation: every bad paging or filter field is a
// *ValidationError naming it, from List and (for the filter) from Count,
// and nothing reaches the store.
func TestListFilterValidation(t *testing.T) {
	e := newEnv(t)
	counter, err := invite.New(memstore.New(), invite.Config{})
	require.NoError(t, err)
	long := strings.Repeat("é", invite.MaxSearchLen+1)
	cases := map[string]struct {
		opts  invite.ListOptions
		field string
	}{
		"offset negative":         {invite.ListOptions{Offset: -1}, "Offset"},
		"offset too large":        {invite.ListOptions{Offset: invite.MaxOffset + 1}, "Offset"},
		"offset with cursor":      {invite.ListOptions{Offset: 1, Cursor: invite.Cursor{CreatedAt: time.Now(), ID: "x"}.String()}, "Offset"},
		"search too long":         {invite.ListOptions{Filter: invite.Filter{Search: long}}, "Search"},
		"search NUL":              {invite.ListOptions{Filter: invite.Filter{Search: "ad\x00a"}}, "Search"},
		"search newline":          {invite.ListOptions{Filter: invite.Filter{Search: "ada\nlove"}}, "Search"},
		"search bidi override":    {invite.ListOptions{Filter: invite.Filter{Search: "ada\u202e"}}, "Search"},
		"search invalid UTF-8":    {invite.ListOptions{Filter: invite.Filter{Search: "ad\xffa"}}, "Search"},
		"client id control":       {invite.ListOptions{Filter: invite.Filter{ClientID: "web\x1b"}}, "ClientID"},
		"client id too long":      {invite.ListOptions{Filter: invite.Filter{ClientID: strings.Repeat("c", invite.MaxIDLen+1)}}, "ClientID"},
		"template key zero width": {invite.ListOptions{Filter: invite.Filter{TemplateKey: "wel\u200bcome"}}, "TemplateKey"},
		"role blank":              {invite.ListOptions{Filter: invite.Filter{Role: "  "}}, "Role"},
		"group control":           {invite.ListOptions{Filter: invite.Filter{Group: "eng\x7f"}}, "Group"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.m.List(e.ctx(), "t1", c.opts)
			ve := requireValidation(t, err, c.field)
			require.Len(t, ve.Fields, 1, "only the bad field: %v", err)
			if c.field != "Offset" {
				_, err = counter.Count(e.ctx(), "t1", c.opts.Filter)
				requireValidation(t, err, c.field)
			}
		})
	}

	// Every bad field at once, each named.
	_, err = e.m.List(e.ctx(), "", invite.ListOptions{Offset: -5, Limit: -1,
		Filter: invite.Filter{Search: long, Role: "a\x00", States: []invite.State{"open"}}})
	requireValidation(t, err, "TenantID", "Offset", "Limit", "Search", "Role", "States[0]")

	// The bounds themselves pass.
	_, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Offset: invite.MaxOffset, Filter: invite.Filter{
		Search: strings.Repeat("é", invite.MaxSearchLen), ClientID: strings.Repeat("c", invite.MaxIDLen)}})
	require.NoError(t, err)
	// Names may hold the zero-width joiners, so a search may too.
	_, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{Search: "می\u200cخواهم"}})
	require.NoError(t, err)
}

// TestListSearchTrims: the white space around a search is dropped, and a
// search of white space only searches nothing.
func TestListSearchTrims(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	ada := e.create(in).Invitation.ID
	in = input("grace@example.com")
	in.GivenName, in.FamilyName = "Grace", "Hopper"
	grace := e.create(in).Invitation.ID
	ids := func(search string) []string {
		t.Helper()
		page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{Search: search}})
		require.NoError(t, err)
		var out []string
		for _, inv := range page.Invitations {
			out = append(out, inv.ID)
		}
		return out
	}
	require.Equal(t, []string{ada}, ids("  ada lovelace \t"))
	require.Equal(t, []string{grace}, ids("\nHOP "))
	require.Equal(t, []string{ada, grace}, ids("   "))
}

// TestListOffset pages by skip and count, as the reference tenant-admin
// API (003) lists: each page is the slice of the whole listing, in both
// directions and with filters, and its NextCursor continues after it.
func TestListOffset(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i := range 23 {
		e.clock.Advance(time.Second)
		in := input(fmt.Sprintf("u%02d@example.com", i))
		if i%4 == 0 {
			in.Roles = []string{"admin"}
		}
		all = append(all, e.create(in).Invitation.ID)
	}
	list := func(opts invite.ListOptions) *invite.Page {
		t.Helper()
		page, err := e.m.List(e.ctx(), "t1", opts)
		require.NoError(t, err)
		return page
	}
	ids := func(p *invite.Page) []string {
		var out []string
		for _, inv := range p.Invitations {
			out = append(out, inv.ID)
		}
		return out
	}
	reversed := make([]string, len(all))
	for i, id := range all {
		reversed[len(all)-1-i] = id
	}
	for _, desc := range []bool{false, true} {
		want := all
		if desc {
			want = reversed
		}
		for skip := 0; skip <= len(all)+5; skip += 5 {
			page := list(invite.ListOptions{Offset: skip, Limit: 5, Descending: desc})
			to := min(skip+5, len(want))
			if skip >= len(want) {
				require.Empty(t, page.Invitations, "skip %d: past the end", skip)
			} else {
				require.Equal(t, want[skip:to], ids(page), "skip %d", skip)
			}
			require.Equal(t, to < len(want), page.NextCursor != "", "skip %d: NextCursor", skip)
			if page.NextCursor != "" {
				rest := list(invite.ListOptions{Cursor: page.NextCursor, Limit: invite.MaxPageSize, Descending: desc})
				require.Equal(t, want[to:], ids(rest), "after the offset page's cursor")
			}
		}
	}
	// The offset counts what the filter keeps: admins are 0, 4, 8, 12, 16, 20.
	page := list(invite.ListOptions{Filter: invite.Filter{Role: "admin"}, Offset: 2, Limit: 3})
	require.Equal(t, []string{all[8], all[12], all[16]}, ids(page))
	require.NotEmpty(t, page.NextCursor)
	// The default page size applies to offset pages too.
	require.Len(t, list(invite.ListOptions{Offset: 3}).Invitations, len(all)-3)
}

// TestCount counts with the filter List takes, per tenant, at the
// Manager's clock; a store without the Counter ability is ErrNoCounter.
func TestCount(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	for i, tenant := range []string{"t1", "t1", "t1", "t2"} {
		_, err := m.Create(t.Context(), invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: fmt.Sprintf("u%d@example.com", i)},
			Delivery: invite.DeliveryReturn, ExpiresIn: time.Duration(i+1) * time.Hour})
		require.NoError(t, err)
	}
	count := func(tenant string, f invite.Filter) int {
		t.Helper()
		n, err := m.Count(t.Context(), tenant, f)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 3, count("t1", invite.Filter{Open: true}))
	require.Equal(t, 1, count("t2", invite.Filter{}))
	require.Zero(t, count("t3", invite.Filter{}))
	require.Equal(t, 1, count("t1", invite.Filter{Search: "U1@"}))
	now = now.Add(2 * time.Hour) // two of t1's have expired
	require.Equal(t, 1, count("t1", invite.Filter{Open: true}))
	require.Equal(t, 2, count("t1", invite.Filter{States: []invite.State{invite.StateExpired}}))
	require.Equal(t, 3, count("t1", invite.Filter{IncludeExpired: true}))

	_, err = m.Count(t.Context(), "", invite.Filter{})
	requireValidation(t, err, "TenantID")

	plain, err := invite.New(listOnly{memstore.New()}, invite.Config{})
	require.NoError(t, err)
	_, err = plain.Count(t.Context(), "t1", invite.Filter{})
	require.ErrorIs(t, err, invite.ErrNoCounter)
	// Bad input is still reported first, as such.
	_, err = plain.Count(t.Context(), "t1", invite.Filter{Search: "a\x00"})
	requireValidation(t, err, "Search")
}

// listOnly is a Store without the optional abilities.
type listOnly struct{ invite.Store }

// Page by skip and count ("skip 2, take 2"), as admin screens with page
// numbers do, and count what the filter keeps for the page numbers. The
// cursor of ExampleManager_List is cheaper and stable under concurrent
// inserts; Offset suits short listings.
func ExampleManager_List_offset() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"ada", "bob", "cy", "dee", "eve"} {
		now = now.Add(time.Minute)
		_, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: name + "@example.com"},
			Delivery: invite.DeliveryReturn})
		if err != nil {
			panic(err)
		}
	}
	open := invite.Filter{Open: true} // pending or sent
	total, err := m.Count(ctx, "acme", open)
	if err != nil {
		panic(err)
	}
	const perPage = 2
	for skip := 0; skip < total; skip += perPage {
		page, err := m.List(ctx, "acme", invite.ListOptions{Filter: open, Offset: skip, Limit: perPage})
		if err != nil {
			panic(err)
		}
		fmt.Printf("page %d of %d:", skip/perPage+1, (total+perPage-1)/perPage)
		for _, inv := range page.Invitations {
			fmt.Print(" ", inv.Invitee.Email)
		}
		fmt.Println()
	}

	// Output:
	// page 1 of 3: ada@example.com bob@example.com
	// page 2 of 3: cy@example.com dee@example.com
	// page 3 of 3: eve@example.com
}

// TestSearchKey: every case variant of a character has the key of the
// others (the variants strings.EqualFold equates), the key has as many
// characters as the text, and characters without case are kept.
func TestSearchKey(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue // surrogates are not characters
		}
		key := invite.SearchKey(string(r))
		require.Equal(t, 1, utf8.RuneCountInString(key), "%U", r)
		for v := unicode.SimpleFold(r); v != r; v = unicode.SimpleFold(v) {
			require.Equal(t, key, invite.SearchKey(string(v)), "%U and %U are case variants", r, v)
		}
		if unicode.SimpleFold(r) == r && unicode.ToUpper(r) == r && unicode.ToLower(r) == r {
			require.Equal(t, string(r), key, "%U has no case", r)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"Ada LOVELACE", "ada lovelace"},
		{"ÖDÖN", "ödön"},
		{"ΟΔΥΣΣΈΑΣ", "οδυσσέασ"},
		{"Οδυσσέας", "οδυσσέασ"},
		{"GROẞ", "groß"},
		{"\u212Aelvin", "kelvin"},
		{"İSTANBUL ılgaz", "istanbul ilgaz"},
		{"50%_off\\", "50%_off\\"},
	} {
		require.Equal(t, c.want, invite.SearchKey(c.in), c.in)
	}
}

// TestListResent: Filter.Resent splits the invitations by whether the
// Manager ever re-sent them, in List and Count; the store gets its own copy
// of the flag.
func TestListResent(t *testing.T) {
	ctx := t.Context()
	spy := &querySpy{Store: memstore.New()}
	m, err := invite.New(spy, invite.Config{})
	require.NoError(t, err)
	var ids []string
	for i := range 4 {
		res, err := m.Create(ctx, invite.CreateInput{TenantID: "t1", Invitee: invite.Invitee{Email: fmt.Sprintf("u%d@example.com", i)},
			Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		ids = append(ids, res.Invitation.ID)
	}
	for _, id := range []string{ids[1], ids[3], ids[3]} {
		_, err := m.Resend(ctx, "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
	}
	_, err = m.Revoke(ctx, "t1", ids[3], "")
	require.NoError(t, err)

	for _, c := range []struct {
		name   string
		filter invite.Filter
		want   []string
	}{
		{"Either", invite.Filter{}, ids},
		{"Resent", invite.Filter{Resent: new(true)}, []string{ids[1], ids[3]}},
		{"NeverResent", invite.Filter{Resent: new(false)}, []string{ids[0], ids[2]}},
		{"ResentOpen", invite.Filter{Resent: new(true), Open: true}, []string{ids[1]}},
		{"NeverResentRevoked", invite.Filter{Resent: new(false), States: []invite.State{invite.StateRevoked}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			flag := c.filter.Resent
			page, err := m.List(ctx, "t1", invite.ListOptions{Filter: c.filter})
			require.NoError(t, err)
			var got []string
			for _, inv := range page.Invitations {
				got = append(got, inv.ID)
			}
			require.Equal(t, c.want, got)
			n, err := m.Count(ctx, "t1", c.filter)
			require.NoError(t, err)
			require.Equal(t, len(c.want), n)
			if flag != nil {
				require.NotSame(t, flag, spy.resent, "the store's copy")
				require.Equal(t, *flag, *spy.resent)
			} else {
				require.Nil(t, spy.resent)
			}
		})
	}
}

// querySpy is a Store that keeps the Filter.Resent of the last List.
type querySpy struct {
	invite.Store
	resent *bool
}

func (s *querySpy) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	s.resent = q.Resent
	return s.Store.List(ctx, tenantID, q)
}

func (s *querySpy) Count(ctx context.Context, tenantID string, f invite.Filter, now time.Time) (int, error) {
	return s.Store.(invite.Counter).Count(ctx, tenantID, f, now)
}

// TestFilterJSON: Resent is absent when nil, and true or false when set.
func TestFilterJSON(t *testing.T) {
	for _, c := range []struct {
		filter invite.Filter
		json   string
	}{
		{invite.Filter{}, `{}`},
		{invite.Filter{Resent: new(true)}, `{"resent":true}`},
		{invite.Filter{Resent: new(false), Open: true}, `{"open":true,"resent":false}`},
	} {
		b, err := json.Marshal(c.filter)
		require.NoError(t, err)
		require.JSONEq(t, c.json, string(b))
		var back invite.Filter
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, c.filter, back)
	}
}
