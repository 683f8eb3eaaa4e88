package storetest

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// orderedRecords returns n records of tenantID whose CreatedAt runs against
// their id order, with ties: record i is created at base + (n-1-i)/3
// seconds, so records come in groups of three sharing a CreatedAt, and a
// store that ordered by id alone, or by CreatedAt alone, would be caught.
// They are returned in a shuffled order, ready to insert.
func orderedRecords(tenantID string, n int) []*invite.Record {
	recs := make([]*invite.Record, n)
	for i := range recs {
		recs[i] = newRecord(tenantID, created(base.Add(time.Duration((n-1-i)/3)*time.Second)))
	}
	rand.Shuffle(n, func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	return recs
}

func direction(desc bool) string {
	if desc {
		return "Descending"
	}
	return "Ascending"
}

// all lists every invitation of the store, expired or not.
var all = invite.Filter{IncludeExpired: true}

func (s *suite) testList(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		st := s.store(t)
		mustInsert(t, st, newRecord(tenantB))
		invs, cur, err := st.List(t.Context(), tenantA, invite.Query{Now: base, Limit: 10, Filter: all})
		require.NoError(t, err)
		require.Empty(t, invs)
		require.Nil(t, cur, "cursor of an empty listing")
	})

	t.Run("Order", func(t *testing.T) {
		for _, desc := range []bool{false, true} {
			t.Run(direction(desc), func(t *testing.T) {
				st := s.store(t)
				recs := orderedRecords(tenantA, 12)
				mustInsert(t, st, recs...)
				invs, cur, err := st.List(t.Context(), tenantA, invite.Query{Now: base, Limit: 100, Descending: desc, Filter: all})
				require.NoError(t, err)
				require.Nil(t, cur, "cursor of a listing that fits one page")
				require.Equal(t, sortedIDs(recs, desc), invitationIDs(invs), "order by (CreatedAt, ID)")
				byID := map[string]*invite.Record{}
				for _, r := range recs {
					byID[r.Invitation.ID] = r
				}
				for _, inv := range invs {
					requireInvitationEqual(t, &byID[inv.ID].Invitation, inv, "List")
				}
			})
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		n := s.opts.PaginationRecords
		for _, desc := range []bool{false, true} {
			t.Run(direction(desc), func(t *testing.T) {
				st := s.store(t)
				recs := orderedRecords(tenantA, n)
				mustInsert(t, st, recs...)
				want := sortedIDs(recs, desc)
				// 1 and 7 leave a short last page; n/6 and n fill the last page
				// exactly (its cursor must still be nil); n+1 is one short page.
				for _, limit := range []int{1, 7, n / 6, n, n + 1} {
					t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
						got, pages := listAll(t, st, tenantA, invite.Query{Now: base, Limit: limit, Descending: desc, Filter: all})
						require.Equal(t, want, invitationIDs(got), "every record exactly once, in order")
						require.Equal(t, (n+limit-1)/limit, pages, "pages (the last page's cursor must be nil)")
					})
				}
			})
		}
	})

	t.Run("Cursor", func(t *testing.T) {
		for _, desc := range []bool{false, true} {
			t.Run(direction(desc), func(t *testing.T) {
				st := s.store(t)
				recs := make([]*invite.Record, 9) // recs[i] created at base + i s
				for i := range recs {
					recs[i] = newRecord(tenantA, created(base.Add(time.Duration(i)*time.Second)))
				}
				mustInsert(t, st, recs...)
				ids := recordIDs(recs)
				if desc {
					slices.Reverse(ids)
				}
				q := invite.Query{Now: base, Limit: 3, Descending: desc, Filter: all}
				page, cur, err := st.List(t.Context(), tenantA, q)
				require.NoError(t, err)
				require.Equal(t, ids[:3], invitationIDs(page), "first page")
				require.NotNil(t, cur, "cursor of a page with more to follow")
				requireCursorAt(t, cur, page[2])

				// The record under the cursor disappears: keyset paging goes on.
				mustApply(t, st, del(mustGet(t, st, tenantA, page[2].ID)))
				q.After = cur
				page, cur, err = st.List(t.Context(), tenantA, q)
				require.NoError(t, err)
				require.Equal(t, ids[3:6], invitationIDs(page), "page after a cursor whose record was deleted")
				require.NotNil(t, cur)

				// A cursor is a position, not a record: one built by hand
				// (as ParseCursor builds it) between two records works too.
				mid := recs[4].Invitation.CreatedAt.Add(500 * time.Millisecond)
				q.After, q.Limit = &invite.Cursor{CreatedAt: mid, ID: ""}, 100
				page, cur, err = st.List(t.Context(), tenantA, q)
				require.NoError(t, err)
				require.Nil(t, cur)
				if desc {
					require.Equal(t, ids[4:], invitationIDs(page), "after a hand-made cursor")
				} else {
					require.Equal(t, recordIDs(recs[5:]), invitationIDs(page), "after a hand-made cursor")
				}
				// Same instant as a record, empty id: that record sorts after it.
				q.After = &invite.Cursor{CreatedAt: recs[5].Invitation.CreatedAt, ID: ""}
				page, _, err = st.List(t.Context(), tenantA, q)
				require.NoError(t, err)
				if desc {
					require.Equal(t, ids[4:], invitationIDs(page), "after (t5, \"\")")
				} else {
					require.Equal(t, recordIDs(recs[5:]), invitationIDs(page), "after (t5, \"\")")
				}
			})
		}
	})

	t.Run("ConcurrentInserts", func(t *testing.T) {
		for _, desc := range []bool{false, true} {
			t.Run(direction(desc), func(t *testing.T) { s.testListConcurrentInserts(t, desc) })
		}
	})

	t.Run("Filters", s.testListFilters)
	t.Run("FindFilters", s.testListFindFilters)
	t.Run("SearchAfterRename", s.testListSearchAfterRename)
	t.Run("ResentFilter", s.testListResentFilter)
	t.Run("Offset", s.testListOffset)
}

// testListConcurrentInserts pages through a listing while four goroutines
// insert records all over its range: every record that existed before
// paging started must be listed exactly once, and the listing must stay
// strictly ordered.
func (s *suite) testListConcurrentInserts(t *testing.T, desc bool) {
	st := s.store(t)
	n, extra := s.opts.PaginationRecords, s.opts.ConcurrentInserts
	const writers, limit = 4, 7
	pre := make([]*invite.Record, n)
	for i := range pre {
		pre[i] = newRecord(tenantA, created(base.Add(time.Duration(i/2)*time.Second)))
	}
	mustInsert(t, st, pre...)

	var inserted atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < extra; i += writers {
				select {
				case <-stop:
					return
				default:
				}
				// Whole seconds from before the first to after the last:
				// some land behind the cursor, some ahead, some tie.
				at := base.Add(time.Duration(rand.IntN(n/2+10)-5) * time.Second)
				if err := st.Apply(t.Context(), batch(ins(newRecord(tenantA, created(at))))); err != nil {
					errs <- fmt.Errorf("concurrent insert: %w", err)
					return
				}
				inserted.Add(1)
				runtime.Gosched()
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	stopWriters := sync.OnceFunc(func() { close(stop); <-writersDone })
	defer stopWriters() // also when a require below fails

	// Pace the pages so that inserts land between them even on a fast store.
	pagesExpected := (n + limit - 1) / limit
	perPage := int64(max(1, extra/pagesExpected))
	seen := map[string]bool{}
	var last *invite.Invitation
	q := invite.Query{Now: base, Limit: limit, Descending: desc, Filter: all}
	for page := 1; ; page++ {
		deadline := time.Now().Add(5 * time.Second)
	wait:
		for inserted.Load() < int64(page-1)*perPage && time.Now().Before(deadline) {
			select {
			case <-writersDone:
				break wait
			case <-time.After(50 * time.Microsecond):
			}
		}
		invs, cur, err := st.List(t.Context(), tenantA, q)
		require.NoError(t, err, "List page %d", page)
		require.LessOrEqual(t, len(invs), limit)
		for _, inv := range invs {
			require.False(t, seen[inv.ID], "page %d lists %s a second time", page, inv.ID)
			seen[inv.ID] = true
			if last != nil {
				a, b := invite.CursorOf(last), invite.CursorOf(inv)
				if desc {
					a, b = b, a
				}
				require.True(t, a.Less(*b), "page %d: %s listed after %s, out of order", page, inv.ID, last.ID)
			}
			last = inv
		}
		if cur == nil {
			break
		}
		require.NotEmpty(t, invs, "page %d is empty but returned a cursor", page)
		q.After = cur
		require.Less(t, page, 100_000, "List never returned a nil cursor")
	}
	stopWriters()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, r := range pre {
		require.True(t, seen[r.Invitation.ID], "record %s existed before paging started but was not listed", r.Invitation.ID)
	}
	t.Logf("listed %d records while %d were inserted concurrently", len(seen), inserted.Load())
}

func (s *suite) testListFilters(t *testing.T) {
	now := base.Add(100 * time.Hour)
	phone := newPhone()
	at := func(sec int) func(*invite.Record) { return created(base.Add(time.Duration(sec) * time.Second)) }
	inviter := func(id string) func(*invite.Record) {
		return func(r *invite.Record) { r.Invitation.Inviter = invite.Inviter{ID: id, Name: "Inviter " + id} }
	}
	// The dataset, in tenant A, with the effective state of each at now.
	specs := []filterSpec{
		{"p1", []func(*invite.Record){at(1), email("Alice@Example.com"), inviter("inv-1"), expires(now.Add(time.Hour))}},                                     // pending
		{"s1", []func(*invite.Record){at(2), invitee(invite.Invitee{Phone: phone}), inviter("inv-2"), expires(now.Add(time.Hour)), state(invite.StateSent)}}, // sent
		{"dx", []func(*invite.Record){at(3), invitee(invite.Invitee{UserID: "user-1"}), inviter("inv-1"), expires(now.Add(-time.Hour))}},                     // expired (derived)
		{"de", []func(*invite.Record){at(4), email("bob@example.com"), expires(now), state(invite.StateSent)}},                                               // expired (derived, at the instant)
		{"ac", []func(*invite.Record){at(5), email("alice@example.com"), inviter("inv-2"), state(invite.StateAccepted)}},                                     // accepted
		{"rj", []func(*invite.Record){at(6), invitee(invite.Invitee{UserID: "user-1"}), state(invite.StateRejected)}},                                        // rejected
		{"rv", []func(*invite.Record){at(7), inviter("inv-1"), state(invite.StateRevoked)}},                                                                  // revoked
		{"ex", []func(*invite.Record){at(8), invitee(invite.Invitee{Phone: phone}), state(invite.StateExpired)}},                                             // expired (stored)
		{"p2", []func(*invite.Record){at(9), expires(now.Add(time.Microsecond))}},                                                                            // pending, a microsecond to go
		{"p3", []func(*invite.Record){at(9), email("carol@example.com"), expires(now.Add(time.Hour))}},                                                       // pending, same CreatedAt as p2
	}
	P := func(ss ...invite.State) []invite.State { return ss }
	cases := []filterCase{
		{name: "Zero", want: []string{"p1", "s1", "ac", "rj", "rv", "p2", "p3"}},
		{name: "IncludeExpired", filter: invite.Filter{IncludeExpired: true},
			want: []string{"p1", "s1", "dx", "de", "ac", "rj", "rv", "ex", "p2", "p3"}},
		{name: "StatePending", filter: invite.Filter{States: P(invite.StatePending)}, want: []string{"p1", "p2", "p3"}},
		{name: "StateSent", filter: invite.Filter{States: P(invite.StateSent)}, want: []string{"s1"}},
		{name: "StateExpired", filter: invite.Filter{States: P(invite.StateExpired)}, want: []string{"dx", "de", "ex"}},
		{name: "StatesClosed", filter: invite.Filter{States: P(invite.StateAccepted, invite.StateRejected)}, want: []string{"ac", "rj"}},
		{name: "StatesOpen", filter: invite.Filter{States: P(invite.StatePending, invite.StateSent)}, want: []string{"p1", "s1", "p2", "p3"}},
		{name: "StatesWinOverIncludeExpired", filter: invite.Filter{States: P(invite.StatePending), IncludeExpired: true},
			want: []string{"p1", "p2", "p3"}},
		{name: "StatesRevokedOrExpired", filter: invite.Filter{States: P(invite.StateRevoked, invite.StateExpired)},
			want: []string{"dx", "de", "rv", "ex"}},
		{name: "EmailLowerCase", filter: invite.Filter{Email: "alice@example.com"}, want: []string{"p1", "ac"}},
		{name: "EmailOtherCase", filter: invite.Filter{Email: "ALICE@example.COM"}, want: []string{"p1", "ac"}},
		{name: "EmailExpired", filter: invite.Filter{Email: "bob@example.com"}},
		{name: "EmailExpiredIncluded", filter: invite.Filter{Email: "BOB@example.com", IncludeExpired: true}, want: []string{"de"}},
		{name: "Phone", filter: invite.Filter{Phone: phone}, want: []string{"s1"}},
		{name: "PhoneIncludeExpired", filter: invite.Filter{Phone: phone, IncludeExpired: true}, want: []string{"s1", "ex"}},
		{name: "UserID", filter: invite.Filter{UserID: "user-1"}, want: []string{"rj"}},
		{name: "UserIDExpired", filter: invite.Filter{UserID: "user-1", States: P(invite.StateExpired)}, want: []string{"dx"}},
		{name: "InviterID", filter: invite.Filter{InviterID: "inv-1"}, want: []string{"p1", "rv"}},
		{name: "InviterIDIncludeExpired", filter: invite.Filter{InviterID: "inv-1", IncludeExpired: true}, want: []string{"p1", "dx", "rv"}},
		{name: "CreatedRange", filter: invite.Filter{CreatedFrom: base.Add(3 * time.Second), CreatedTo: base.Add(7 * time.Second)},
			want: []string{"ac", "rj"}},
		{name: "CreatedRangeIncludeExpired", filter: invite.Filter{CreatedFrom: base.Add(3 * time.Second), CreatedTo: base.Add(7 * time.Second), IncludeExpired: true},
			want: []string{"dx", "de", "ac", "rj"}},
		{name: "CreatedFrom", filter: invite.Filter{CreatedFrom: base.Add(9 * time.Second)}, want: []string{"p2", "p3"}},
		{name: "CreatedTo", filter: invite.Filter{CreatedTo: base.Add(2 * time.Second)}, want: []string{"p1"}},
		{name: "CreatedFromMicrosecondAfter", filter: invite.Filter{CreatedFrom: base.Add(9*time.Second + time.Microsecond)}},
		{name: "CreatedToMicrosecondAfter", filter: invite.Filter{CreatedTo: base.Add(time.Second + time.Microsecond)}, want: []string{"p1"}},
		{name: "Combined", filter: invite.Filter{Email: "alice@example.com", InviterID: "inv-2", States: P(invite.StateAccepted)},
			want: []string{"ac"}},
		{name: "CombinedNoMatch", filter: invite.Filter{Email: "alice@example.com", InviterID: "inv-1", States: P(invite.StateAccepted)}},
		{name: "NoMatch", filter: invite.Filter{InviterID: "nobody", IncludeExpired: true}},
		{name: "EarlierNow", now: base, want: []string{"p1", "s1", "dx", "de", "ac", "rj", "rv", "p2", "p3"}},
		{name: "EarlierNowPending", now: base, filter: invite.Filter{States: P(invite.StatePending)}, want: []string{"p1", "dx", "p2", "p3"}},
		{name: "LaterNowExpired", now: now.Add(time.Microsecond), filter: invite.Filter{States: P(invite.StateExpired)},
			want: []string{"dx", "de", "ex", "p2"}},
	}

	s.runFilterCases(t, specs, cases, now)
}
