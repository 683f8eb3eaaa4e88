package storetest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// filterSpec is one record of a filter dataset, by name.
type filterSpec struct {
	name  string
	edits []func(*invite.Record)
}

// filterCase is one filter and the names of the records it keeps.
type filterCase struct {
	name   string
	filter invite.Filter
	now    time.Time // zero: the dataset's now
	want   []string
}

// runFilterCases runs each case on a fresh store holding specs in tenant A
// and their twins in tenant B (never listed, never counted): List, in both
// directions, in one page and in pages of 2, must return exactly the
// wanted records in order, and Count, when the store is an
// invite.Counter, their number.
func (s *suite) runFilterCases(t *testing.T, specs []filterSpec, cases []filterCase, now time.Time) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := s.store(t)
			byName := map[string]*invite.Record{}
			var recs []*invite.Record
			for _, sp := range specs {
				r := newRecord(tenantA, sp.edits...)
				byName[sp.name], recs = r, append(recs, r)
			}
			// Another tenant's twin of everything: never listed.
			for _, sp := range specs {
				recs = append(recs, newRecord(tenantB, sp.edits...))
			}
			rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			mustInsert(t, st, recs...)

			var want []*invite.Record
			for _, name := range c.want {
				require.Contains(t, byName, name, "the case wants a record the dataset lacks")
				want = append(want, byName[name])
			}
			q := invite.Query{Filter: c.filter, Now: c.now}
			if q.Now.IsZero() {
				q.Now = now
			}
			names := func(ids []string) []string {
				out := make([]string, len(ids))
				for i, id := range ids {
					out[i] = id
					for n, r := range byName {
						if r.Invitation.ID == id {
							out[i] = n
						}
					}
				}
				return out
			}
			for _, desc := range []bool{false, true} {
				for _, limit := range []int{100, 2} {
					q.Descending, q.Limit = desc, limit
					got, _ := listAll(t, st, tenantA, q)
					require.Equal(t, names(sortedIDs(want, desc)), names(invitationIDs(got)),
						"%s, Limit %d", direction(desc), limit)
				}
			}
			if ct, ok := st.(invite.Counter); ok {
				n, err := ct.Count(t.Context(), tenantA, c.filter, q.Now)
				require.NoError(t, err, "Count")
				require.Equal(t, len(want), n, "Count")
			}
		})
	}
}

// testListFindFilters covers the filters on the invitation's client,
// template, roles and groups, the open-state shorthand and the prefix
// search over names and email.
func (s *suite) testListFindFilters(t *testing.T) {
	now := base.Add(100 * time.Hour)
	at := func(sec int) func(*invite.Record) { return created(base.Add(time.Duration(sec) * time.Second)) }
	set := func(f func(inv *invite.Invitation)) func(*invite.Record) {
		return func(r *invite.Record) { f(&r.Invitation) }
	}
	names := func(given, family string) func(*invite.Record) {
		return set(func(inv *invite.Invitation) { inv.GivenName, inv.FamilyName = given, family })
	}
	grants := func(client, template string, roles, groups []string) func(*invite.Record) {
		return set(func(inv *invite.Invitation) {
			inv.ClientID, inv.TemplateKey, inv.Roles, inv.Groups = client, template, roles, groups
		})
	}
	L := func(ss ...string) []string { return ss }
	open := expires(now.Add(time.Hour))
	specs := []filterSpec{
		{"ada", []func(*invite.Record){at(1), open, names("Ada", "Lovelace"), email("ada.l@example.com"),
			grants("web", "welcome", L("admin", "billing"), L("eng"))}},
		{"grace", []func(*invite.Record){at(2), open, names("Grace", "Hopper"), email("GHopper@Example.com"),
			grants("Web", "", L("Admin"), L("eng", "ops"))}},
		{"adam", []func(*invite.Record){at(3), open, names("Adam", ""), email("a.smith@example.com"),
			grants("mobile", "reminder", L("viewer"), nil), state(invite.StateSent)}},
		{"vonn", []func(*invite.Record){at(4), names("", "von Neumann"), email("jvn@example.com"),
			grants("web", "", L("admin"), nil), state(invite.StateAccepted)}},
		{"emile", []func(*invite.Record){at(5), open, names("Émile", ""), email("emile@example.com"), grants("", "", nil, nil)}},
		{"wild", []func(*invite.Record){at(6), open, names(`50%_off\x`, "O'Brien"), email("w@example.com"),
			grants("", "", L(`quote"\`), L("a%"))}},
		{"html", []func(*invite.Record){at(7), open, names("<Zed> & co", ""), email("h@example.com"), grants("", "", nil, nil)}},
		{"noname", []func(*invite.Record){at(8), open, invitee(invite.Invitee{Email: "Zed@example.com"}), grants("", "", nil, nil)}},
		{"cyr", []func(*invite.Record){at(9), open, names("Анна", "Каренина"), invitee(invite.Invitee{Phone: newPhone()}),
			grants("", "", nil, nil), state(invite.StateRevoked)}},
		{"fold", []func(*invite.Record){at(11), names("Ödön", "Groß Οδυσσέας"), invitee(invite.Invitee{UserID: "u-fold"}),
			grants("", "", nil, nil), state(invite.StateRevoked)}},
		{"old", []func(*invite.Record){at(10), expires(now.Add(-time.Hour)), names("Ada", "Byron"), email("ab@example.com"),
			grants("web", "welcome", L("admin"), L("eng"))}},
	}
	P := func(ss ...invite.State) []invite.State { return ss }
	cases := []filterCase{
		{name: "Zero", want: L("ada", "grace", "adam", "vonn", "emile", "wild", "html", "noname", "cyr", "fold")},

		{name: "ClientID", filter: invite.Filter{ClientID: "web"}, want: L("ada", "vonn")},
		{name: "ClientIDOtherCase", filter: invite.Filter{ClientID: "Web"}, want: L("grace")},
		{name: "ClientIDIncludeExpired", filter: invite.Filter{ClientID: "web", IncludeExpired: true}, want: L("ada", "vonn", "old")},
		{name: "ClientIDPrefixIsNotAMatch", filter: invite.Filter{ClientID: "we"}},
		{name: "TemplateKey", filter: invite.Filter{TemplateKey: "welcome"}, want: L("ada")},
		{name: "TemplateKeyOther", filter: invite.Filter{TemplateKey: "reminder"}, want: L("adam")},
		{name: "Role", filter: invite.Filter{Role: "admin"}, want: L("ada", "vonn")},
		{name: "RoleOtherCase", filter: invite.Filter{Role: "Admin"}, want: L("grace")},
		{name: "RoleSecond", filter: invite.Filter{Role: "billing"}, want: L("ada")},
		{name: "RolePrefixIsNotAMatch", filter: invite.Filter{Role: "adm"}},
		{name: "RoleWithQuoteAndBackslash", filter: invite.Filter{Role: `quote"\`}, want: L("wild")},
		{name: "Group", filter: invite.Filter{Group: "eng"}, want: L("ada", "grace")},
		{name: "GroupSecond", filter: invite.Filter{Group: "ops"}, want: L("grace")},
		{name: "GroupWildcardIsLiteral", filter: invite.Filter{Group: "a%"}, want: L("wild")},
		{name: "GroupNoWildcard", filter: invite.Filter{Group: "a"}},
		{name: "RoleAndGroup", filter: invite.Filter{Role: "admin", Group: "eng", IncludeExpired: true}, want: L("ada", "old")},

		{name: "Open", filter: invite.Filter{Open: true}, want: L("ada", "grace", "adam", "emile", "wild", "html", "noname")},
		{name: "OpenIsNotOnlyPending", filter: invite.Filter{States: P(invite.StatePending)},
			want: L("ada", "grace", "emile", "wild", "html", "noname")},
		{name: "OpenPlusStates", filter: invite.Filter{Open: true, States: P(invite.StateAccepted, invite.StateSent)},
			want: L("ada", "grace", "adam", "vonn", "emile", "wild", "html", "noname")},
		{name: "OpenLeavesExpiredOut", filter: invite.Filter{Open: true, IncludeExpired: true},
			want: L("ada", "grace", "adam", "emile", "wild", "html", "noname")},
		{name: "OpenPlusExpired", filter: invite.Filter{Open: true, States: P(invite.StateExpired), ClientID: "web"},
			want: L("ada", "old")},

		{name: "SearchGivenName", filter: invite.Filter{Search: "Ada"}, want: L("ada", "adam")},
		{name: "SearchCaseInsensitive", filter: invite.Filter{Search: "aDA"}, want: L("ada", "adam")},
		{name: "SearchIncludeExpired", filter: invite.Filter{Search: "ada", IncludeExpired: true}, want: L("ada", "adam", "old")},
		{name: "SearchFullName", filter: invite.Filter{Search: "ADA LOVE"}, want: L("ada")},
		{name: "SearchFamilyName", filter: invite.Filter{Search: "love"}, want: L("ada")},
		{name: "SearchFamilyOnly", filter: invite.Filter{Search: "Von N"}, want: L("vonn")},
		{name: "SearchInsideIsNotAPrefix", filter: invite.Filter{Search: "neumann"}},
		{name: "SearchEmail", filter: invite.Filter{Search: "ghop"}, want: L("grace")},
		{name: "SearchEmailWhole", filter: invite.Filter{Search: "GHopper@example.COM"}, want: L("grace")},
		{name: "SearchEmailNoName", filter: invite.Filter{Search: "zed"}, want: L("noname")},
		{name: "SearchOneCharacter", filter: invite.Filter{Search: "a"}, want: L("ada", "adam")},
		{name: "SearchNonASCIIExact", filter: invite.Filter{Search: "Émi"}, want: L("emile")},
		{name: "SearchNonASCIIOtherCase", filter: invite.Filter{Search: "émile"}, want: L("emile")},
		{name: "SearchAccentsAreKept", filter: invite.Filter{Search: "Emile"}, want: L("emile")}, // by the email only
		{name: "SearchAccentsAreKeptNoEmail", filter: invite.Filter{Search: "odon", States: P(invite.StateRevoked)}},
		{name: "SearchUnicodeOtherCase", filter: invite.Filter{Search: "öDÖ", States: P(invite.StateRevoked)}, want: L("fold")},
		{name: "SearchCapitalSharpS", filter: invite.Filter{Search: "ÖDÖN GROẞ", States: P(invite.StateRevoked)}, want: L("fold")},
		{name: "SearchSharpSIsNotSS", filter: invite.Filter{Search: "gross", States: P(invite.StateRevoked)}},
		{name: "SearchFinalSigma", filter: invite.Filter{Search: "groß ΟΔΥΣΣΈΑΣ", States: P(invite.StateRevoked)}, want: L("fold")},
		{name: "SearchFamilyUnicode", filter: invite.Filter{Search: "GROẞ ο", States: P(invite.StateRevoked)}, want: L("fold")},
		{name: "SearchEmailOfNonASCIIName", filter: invite.Filter{Search: "emile"}, want: L("emile")},
		{name: "SearchCyrillic", filter: invite.Filter{Search: "Анна К", States: P(invite.StateRevoked)}, want: L("cyr")},
		{name: "SearchCyrillicOtherCase", filter: invite.Filter{Search: "анна к", States: P(invite.StateRevoked)}, want: L("cyr")},
		{name: "SearchCyrillicFamily", filter: invite.Filter{Search: "КАРЕН", States: P(invite.StateRevoked)}, want: L("cyr")},
		{name: "SearchPercentIsLiteral", filter: invite.Filter{Search: "50%"}, want: L("wild")},
		{name: "SearchPercentNoWildcard", filter: invite.Filter{Search: "5%"}},
		{name: "SearchUnderscoreNoWildcard", filter: invite.Filter{Search: "5_%"}},
		{name: "SearchUnderscoreIsLiteral", filter: invite.Filter{Search: "50%_o"}, want: L("wild")},
		{name: "SearchBackslash", filter: invite.Filter{Search: `50%_off\X`}, want: L("wild")},
		{name: "SearchBackslashNoEscape", filter: invite.Filter{Search: `50%_off\\`}},
		{name: "SearchQuote", filter: invite.Filter{Search: "o'b"}, want: L("wild")},
		{name: "SearchEscapedInJSON", filter: invite.Filter{Search: "<zed> &"}, want: L("html")},
		{name: "SearchNoMatch", filter: invite.Filter{Search: "nobody", IncludeExpired: true}},
		{name: "SearchAndRole", filter: invite.Filter{Search: "ada", Role: "admin", IncludeExpired: true}, want: L("ada", "old")},
		{name: "SearchAndOpen", filter: invite.Filter{Search: "a", Open: true, States: P(invite.StateSent)}, want: L("ada", "adam")},
	}
	s.runFilterCases(t, specs, cases, now)
}

// testListResentFilter covers Filter.Resent: the invitations re-sent at
// least once, or never, in every state, alone and with the state filters,
// the search and the expiry rule, paged and counted like any other filter.
func (s *suite) testListResentFilter(t *testing.T) {
	now := base.Add(100 * time.Hour)
	at := func(sec int) func(*invite.Record) { return created(base.Add(time.Duration(sec) * time.Second)) }
	resent := func(n int) func(*invite.Record) {
		return func(r *invite.Record) {
			r.Invitation.ResendCount = n
			if n > 0 {
				r.Invitation.LastResentAt = r.Invitation.CreatedAt.Add(time.Minute)
			}
		}
	}
	named := func(given, family string) func(*invite.Record) {
		return func(r *invite.Record) { r.Invitation.GivenName, r.Invitation.FamilyName = given, family }
	}
	open := expires(now.Add(time.Hour))
	specs := []filterSpec{
		{"first", []func(*invite.Record){at(1), open, resent(0), named("Ada", "Lovelace")}},
		{"again", []func(*invite.Record){at(2), open, resent(1), named("Ada", "Byron")}},
		{"sent", []func(*invite.Record){at(3), open, resent(0), state(invite.StateSent), named("Grace", "Hopper")}},
		{"sentAgain", []func(*invite.Record){at(4), open, resent(3), state(invite.StateSent), named("Adam", "Smith")}},
		// A count beyond 32 bits: the stores must not read it into a
		// narrower integer.
		{"many", []func(*invite.Record){at(5), open, resent(1 << 33), state(invite.StateSent), named("Alan", "Turing")}},
		{"accepted", []func(*invite.Record){at(6), resent(0), state(invite.StateAccepted), named("Ada", "King")}},
		{"acceptedAgain", []func(*invite.Record){at(7), resent(2), state(invite.StateAccepted), named("Edsger", "Dijkstra")}},
		{"revokedAgain", []func(*invite.Record){at(8), resent(1), state(invite.StateRevoked), named("Ida", "Rhodes")}},
		{"lapsed", []func(*invite.Record){at(9), expires(now.Add(-time.Hour)), resent(0), named("Ada", "Yonath")}},
		{"lapsedAgain", []func(*invite.Record){at(10), expires(now.Add(-time.Hour)), resent(1), named("Adele", "Goldberg")}},
		{"expired", []func(*invite.Record){at(11), resent(4), state(invite.StateExpired), named("Alonzo", "Church")}},
	}
	L := func(ss ...string) []string { return ss }
	P := func(ss ...invite.State) []invite.State { return ss }
	yes, no := new(true), new(false)
	cases := []filterCase{
		{name: "Either", want: L("first", "again", "sent", "sentAgain", "many", "accepted", "acceptedAgain", "revokedAgain")},
		{name: "Resent", filter: invite.Filter{Resent: yes}, want: L("again", "sentAgain", "many", "acceptedAgain", "revokedAgain")},
		{name: "NeverResent", filter: invite.Filter{Resent: no}, want: L("first", "sent", "accepted")},
		{name: "ResentOpen", filter: invite.Filter{Resent: yes, Open: true}, want: L("again", "sentAgain", "many")},
		{name: "NeverResentOpen", filter: invite.Filter{Resent: no, Open: true}, want: L("first", "sent")},
		{name: "ResentSent", filter: invite.Filter{Resent: yes, States: P(invite.StateSent)}, want: L("sentAgain", "many")},
		{name: "NeverResentPending", filter: invite.Filter{Resent: no, States: P(invite.StatePending)}, want: L("first")},
		{name: "ResentClosed", filter: invite.Filter{Resent: yes, States: P(invite.StateAccepted, invite.StateRevoked)},
			want: L("acceptedAgain", "revokedAgain")},
		{name: "NeverResentClosed", filter: invite.Filter{Resent: no, States: P(invite.StateAccepted, invite.StateRevoked)},
			want: L("accepted")},
		{name: "ResentIncludeExpired", filter: invite.Filter{Resent: yes, IncludeExpired: true},
			want: L("again", "sentAgain", "many", "acceptedAgain", "revokedAgain", "lapsedAgain", "expired")},
		{name: "NeverResentIncludeExpired", filter: invite.Filter{Resent: no, IncludeExpired: true},
			want: L("first", "sent", "accepted", "lapsed")},
		{name: "ResentExpired", filter: invite.Filter{Resent: yes, States: P(invite.StateExpired)}, want: L("lapsedAgain", "expired")},
		{name: "NeverResentExpired", filter: invite.Filter{Resent: no, States: P(invite.StateExpired)}, want: L("lapsed")},
		{name: "ResentOpenPlusExpired", filter: invite.Filter{Resent: yes, Open: true, States: P(invite.StateExpired)},
			want: L("again", "sentAgain", "many", "lapsedAgain", "expired")},
		{name: "ResentSearch", filter: invite.Filter{Resent: yes, Search: "ad"}, want: L("again", "sentAgain")},
		{name: "NeverResentSearch", filter: invite.Filter{Resent: no, Search: "ada"}, want: L("first", "accepted")},
		{name: "ResentSearchOpen", filter: invite.Filter{Resent: yes, Search: "a", Open: true}, want: L("again", "sentAgain", "many")},
		{name: "NeverResentSearchIncludeExpired", filter: invite.Filter{Resent: no, Search: "ada", IncludeExpired: true},
			want: L("first", "accepted", "lapsed")},
		{name: "ResentSearchNoMatch", filter: invite.Filter{Resent: yes, Search: "grace", IncludeExpired: true}},
		{name: "NeverResentNoMatch", filter: invite.Filter{Resent: no, States: P(invite.StateRevoked)}},
	}
	s.runFilterCases(t, specs, cases, now)
}

// testListOffset pages by position: Query.Offset skips that many matching
// invitations, in the listing's order, after Query.After when both are
// set; the cursor says whether more follow.
func (s *suite) testListOffset(t *testing.T) {
	for _, desc := range []bool{false, true} {
		t.Run(direction(desc), func(t *testing.T) {
			st := s.store(t)
			const n = 24
			recs := orderedRecords(tenantA, n)
			// Every third record is expired: the zero filter leaves it
			// out, and the offset counts only what the filter keeps.
			now := base.Add(time.Hour)
			var kept []*invite.Record
			for i, r := range recs {
				if i%3 == 0 {
					r.Invitation.ExpiresAt = now.Add(-time.Minute)
				} else {
					kept = append(kept, r)
				}
			}
			mustInsert(t, st, recs...)
			mustInsert(t, st, orderedRecords(tenantB, n)...) // never listed
			want := sortedIDs(kept, desc)
			for _, c := range []struct{ offset, limit int }{
				{0, 5}, {1, 5}, {5, 5}, {11, 5}, {12, 4}, {15, 1}, {15, 2}, {16, 3}, {40, 3}, {3, 100},
			} {
				q := invite.Query{Now: now, Offset: c.offset, Limit: c.limit, Descending: desc}
				page, cur, err := st.List(t.Context(), tenantA, q)
				require.NoError(t, err)
				from, to := min(c.offset, len(want)), min(c.offset+c.limit, len(want))
				require.Equal(t, want[from:to], invitationIDs(page), "Offset %d, Limit %d", c.offset, c.limit)
				if to < len(want) {
					require.NotNil(t, cur, "Offset %d, Limit %d: more follow", c.offset, c.limit)
					requireCursorAt(t, cur, page[len(page)-1])
					// The cursor continues where the offset page ended.
					rest, _ := listAll(t, st, tenantA, invite.Query{Now: now, After: cur, Limit: 7, Descending: desc})
					require.Equal(t, want[to:], invitationIDs(rest), "after the cursor of an offset page")
				} else {
					require.Nil(t, cur, "Offset %d, Limit %d: the last page", c.offset, c.limit)
				}
			}
			// After a cursor, the offset skips from there.
			first, cur, err := st.List(t.Context(), tenantA, invite.Query{Now: now, Limit: 4, Descending: desc})
			require.NoError(t, err)
			require.Equal(t, want[:4], invitationIDs(first))
			page, _, err := st.List(t.Context(), tenantA, invite.Query{Now: now, After: cur, Offset: 3, Limit: 2, Descending: desc})
			require.NoError(t, err)
			require.Equal(t, want[7:9], invitationIDs(page), "Offset 3 after the cursor of the first 4")
		})
	}
}

// testCount checks the invite.Counter ability, when the store has it:
// counts follow writes, effective states at the instant asked, and never
// include another tenant's invitations. (Every filter case of List also
// checks Count.)
func (s *suite) testCount(t *testing.T) {
	st := s.store(t)
	ct, ok := st.(invite.Counter)
	if !ok {
		t.Skip("the store does not implement invite.Counter")
	}
	count := func(tenantID string, f invite.Filter, now time.Time) int {
		t.Helper()
		n, err := ct.Count(t.Context(), tenantID, f, now)
		require.NoError(t, err)
		return n
	}
	open := invite.Filter{Open: true}
	require.Zero(t, count(tenantA, invite.Filter{IncludeExpired: true}, base), "an empty store")

	var recs []*invite.Record
	for i := range 5 {
		recs = append(recs, newRecord(tenantA, expires(base.Add(time.Duration(i+1)*time.Hour))))
	}
	mustInsert(t, st, recs...)
	for range 7 {
		mustInsert(t, st, newRecord(tenantB))
	}
	require.Equal(t, 5, count(tenantA, open, base))
	require.Equal(t, 7, count(tenantB, open, base))
	require.Zero(t, count("tenant-none", invite.Filter{IncludeExpired: true}, base), "a tenant without invitations")

	// Effective states at the instant asked: two have expired by base+2h.
	later := base.Add(2 * time.Hour)
	require.Equal(t, 3, count(tenantA, open, later))
	require.Equal(t, 2, count(tenantA, invite.Filter{States: []invite.State{invite.StateExpired}}, later))
	require.Equal(t, 5, count(tenantA, invite.Filter{IncludeExpired: true}, later))

	// Writes move the counts.
	mustApply(t, st, upd(next(recs[4], state(invite.StateAccepted, base)), 1))
	mustApply(t, st, del(recs[3]))
	require.Equal(t, 1, count(tenantA, open, later))
	require.Equal(t, 1, count(tenantA, invite.Filter{States: []invite.State{invite.StateAccepted}}, later))
	require.Equal(t, 4, count(tenantA, invite.Filter{IncludeExpired: true}, later))
	require.Equal(t, 7, count(tenantB, invite.Filter{IncludeExpired: true}, later), "the other tenant is untouched")
}

// testListSearchAfterRename: the search follows the names an update
// writes, and a write that leaves the names keeps them searchable.
func (s *suite) testListSearchAfterRename(t *testing.T) {
	st := s.store(t)
	now := base.Add(time.Hour)
	r := newRecord(tenantA, expires(now.Add(time.Hour)))
	r.Invitation.GivenName, r.Invitation.FamilyName = "Ada", "Lovelace"
	mustInsert(t, st, r)
	found := func(search string) []string {
		t.Helper()
		page, _ := listAll(t, st, tenantA, invite.Query{Filter: invite.Filter{Search: search}, Now: now, Limit: 10})
		return invitationIDs(page)
	}
	id := []string{r.Invitation.ID}
	require.Equal(t, id, found("ada love"))

	renamed := next(r, func(n *invite.Record) { n.Invitation.GivenName, n.Invitation.FamilyName = "Ödön", "" })
	mustApply(t, st, upd(renamed, r.Invitation.Version))
	require.Empty(t, found("ada"), "the old given name")
	require.Empty(t, found("love"), "the old family name")
	require.Equal(t, id, found("ÖDÖN"))

	sent := next(renamed, func(n *invite.Record) { n.Invitation.State = invite.StateSent })
	mustApply(t, st, upd(sent, renamed.Invitation.Version))
	require.Equal(t, id, found("ödön"), "after a write that keeps the names")

	family := next(sent, func(n *invite.Record) { n.Invitation.FamilyName = "Groß" })
	mustApply(t, st, upd(family, sent.Invitation.Version))
	require.Equal(t, id, found("GROẞ"), "the new family name alone")
	require.Equal(t, id, found("ödön groß"))
}
