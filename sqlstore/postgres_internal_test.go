package sqlstore

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestPgShapes checks that the text of every PostgreSQL write statement
// uses exactly the placeholders $1 ... $n of the n arguments its shape
// binds, and that the cache returns the text it builds.
func TestPgShapes(t *testing.T) {
	pg := newDialect(Postgres).(*postgres)
	s := &Store{d: Postgres, dl: pg, invitations: "invitations", tokens: "tokens", outbox: "outbox"}
	checkPgShape(t, pg, s, pgShape{kind: pgSettleHeld, delivered: 1})
	for _, kind := range []pgKind{pgInsert, pgUpdateKeep, pgUpdate, pgDelete} {
		for hashes := range 4 {
			if kind == pgUpdateKeep || kind == pgDelete {
				if hashes > 0 {
					continue
				}
			}
			for _, events := range []int{0, 1, 2, 3, maxCachedCount + 1} {
				for _, delivered := range []int{0, 1, 2} {
					if kind == pgDelete && delivered > 0 {
						continue // pg.write settles them with a statement of its own
					}
					checkPgShape(t, pg, s, pgShape{kind: kind, hashes: hashes, events: events, delivered: delivered})
					if kind == pgInsert {
						checkPgShape(t, pg, s, pgShape{kind: kind, hashes: hashes, events: events, delivered: delivered, slot: true})
					}
				}
			}
		}
	}
	if m := pg.stmts.m.Load(); m == nil || len(*m) == 0 {
		t.Error("nothing cached")
	} else {
		for sh := range *m {
			if sh.events > maxCachedCount || sh.hashes > maxCachedCount {
				t.Errorf("%+v cached", sh)
			}
		}
	}
}

func checkPgShape(t *testing.T, pg *postgres, s *Store, sh pgShape) {
	t.Helper()
	placeholder := regexp.MustCompile(`\$([0-9]+)`)
	w := &write{row: row{tenantID: "t", id: "i", version: 2, doc: "{}"}, expect: 1}
	for range sh.hashes {
		w.row.hashes = append(w.row.hashes, make([]byte, 32))
	}
	evs := make([]event, sh.events)
	for i := range evs {
		evs[i] = event{id: "e" + strconv.Itoa(i), at: time.Now()}
	}
	delivered := make([]string, sh.delivered)
	for i := range delivered {
		delivered[i] = "d" + strconv.Itoa(i)
	}
	o := pgOutbox{rows: evs, delivered: delivered}
	if sh.slot {
		o.slot = &event{id: "m", at: time.Now(), availableAt: time.Now()}
	}
	args := sh.args(w, o)
	if len(args) != sh.nargs() {
		t.Errorf("%+v: %d arguments, nargs %d", sh, len(args), sh.nargs())
	}
	q := pg.statement(s, sh)
	if q2 := pg.statement(s, sh); q2 != q {
		t.Errorf("%+v: the cached text differs:\n%s\n%s", sh, q, q2)
	}
	used := map[int]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(q, -1) {
		n, _ := strconv.Atoi(m[1])
		used[n] = true
	}
	for n := 1; n <= len(args); n++ {
		if !used[n] {
			t.Errorf("%+v: $%d unused in %s", sh, n, q)
		}
	}
	if len(used) != len(args) {
		t.Errorf("%+v: %d placeholders for %d arguments in %s", sh, len(used), len(args), q)
	}
}
