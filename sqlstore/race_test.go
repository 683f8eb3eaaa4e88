package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// goRace runs fn(i) for i in [0, n) at once and returns the errors.
func goRace(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// opaque reports errors that are none of the core's sentinels.
func opaque(err error, allowed ...error) bool {
	if err == nil {
		return false
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return false
		}
	}
	return true
}

func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	var se *sqlstore.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%v [sqlstore.Error op=%s retryable=%v cause=%T]", err, se.Op, se.Retryable, se.Err)
	}
	return fmt.Sprintf("%v [%T]", err, err)
}

// inHostTx runs fn with m on st inside a transaction of db, as a host's
// request handler does (WithTx), and commits unless fn fails.
func inHostTx(ctx context.Context, db *sql.DB, st *sqlstore.Store, m *invite.Manager, fn func(*invite.Manager) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(m.WithStore(st.WithTx(tx))); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// raceManager returns a Manager on st, with cheap code hashing, that
// builds events (discardEvents); mut, when set, adjusts its Config.
func raceManager(t testing.TB, st invite.Store, mut func(*invite.Config)) *invite.Manager {
	t.Helper()
	cfg := invite.Config{CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1}, EventSink: discardEvents}
	if mut != nil {
		mut(&cfg)
	}
	m, err := invite.New(st, cfg)
	require.NoError(t, err)
	return m
}

// raceManager returns a raceManager on a fresh Store of be, the Store and
// its database.
func (be backend) raceManager(t testing.TB, mut func(*invite.Config)) (*invite.Manager, *sqlstore.Store, *sql.DB) {
	t.Helper()
	st, db := be.newStore(t)
	return raceManager(t, st, mut), st, db
}

// storeClosed stores n invitations of tenant revoked an hour ago, in one
// batch: what a purge deletes.
func storeClosed(t testing.TB, st *sqlstore.Store, tenant, tag string, n int) {
	t.Helper()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	b := &invite.Batch{}
	for i := range n {
		r := validRecord(tenant, fmt.Sprintf("%s-%d", tag, i), fmt.Sprintf("%s-%d@example.com", tag, i))
		inv := &r.Invitation
		inv.CreatedAt, inv.UpdatedAt, inv.IssuedAt, inv.ExpiresAt = at, at, at, at.Add(time.Minute)
		inv.State, inv.ClosedAt = invite.StateRevoked, at
		b.Writes = append(b.Writes, invite.Write{Record: r})
	}
	require.NoError(t, st.Apply(context.Background(), b))
}

func in(tenant string, iv invite.Invitee) invite.CreateInput {
	return invite.CreateInput{TenantID: tenant, Invitee: iv, Delivery: invite.DeliveryReturn, Roles: []string{"member"}}
}

// TestRaceAcceptRace: one token, many acceptors with different subjects.
func TestRaceAcceptRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, _, _ := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 16
		for round := range 15 {
			res, err := m.Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("acc%d@example.com", round)}))
			require.NoError(t, err)
			accs := make([]*invite.Acceptance, n)
			errs := goRace(n, func(i int) error {
				subj := fmt.Sprintf("s%d", i%4) // same subjects repeat: replays
				var err error
				accs[i], err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: subj})
				return err
			})
			winners := 0
			for i, err := range errs {
				if opaque(err, invite.ErrAlreadyAccepted) {
					t.Errorf("round %d acceptor %d: %s", round, i, describe(err))
					continue
				}
				if err == nil && !accs[i].Replayed {
					winners++
				}
			}
			if winners != 1 {
				t.Errorf("round %d: %d winners", round, winners)
			}
		}
	})
}

// TestRaceCreateRace: parallel Create of one invitee (several keys).
func TestRaceCreateRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 16
		for round := range 15 {
			email := fmt.Sprintf("cr%d@example.com", round)
			phone := fmt.Sprintf("+1555%07d", round)
			user := fmt.Sprintf("u%d", round)
			errs := goRace(n, func(i int) error {
				// mix of key combinations, in different orders of indexes
				var iv invite.Invitee
				switch i % 4 {
				case 0:
					iv = invite.Invitee{Email: email, Phone: phone, UserID: user}
				case 1:
					iv = invite.Invitee{Email: email}
				case 2:
					iv = invite.Invitee{Phone: phone, Email: email}
				case 3:
					iv = invite.Invitee{UserID: user, Email: email}
				}
				_, err := m.Create(ctx, in("t1", iv))
				return err
			})
			ok := 0
			for i, err := range errs {
				if err == nil {
					ok++
					continue
				}
				if opaque(err, invite.ErrAlreadyExists) {
					t.Errorf("round %d creator %d: %s", round, i, describe(err))
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d creates succeeded", round, ok)
			}
			// at most one open per key
			for _, k := range []struct{ col, v string }{{"email_key", email}, {"phone_key", phone}, {"user_key", user}} {
				c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", k.col+" = ? AND state IN ('pending','sent')", k.v)
				if c > 1 {
					t.Errorf("round %d: %d open invitations for %s", round, c, k.v)
				}
			}
		}
	})
}

// TestRaceUpsertRace: parallel Upsert of one invitee.
func TestRaceUpsertRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 12
		conflicts := 0
		defer func() { t.Logf("upsert ErrConflict (gave up) %d times", conflicts) }()
		for round := range 15 {
			email := fmt.Sprintf("up%d@example.com", round)
			res := make([]*invite.UpsertResult, n)
			errs := goRace(n, func(i int) error {
				x := in("t1", invite.Invitee{Email: email})
				x.GivenName = fmt.Sprintf("g%d", i)
				var err error
				res[i], err = m.Upsert(ctx, x)
				return err
			})
			created := 0
			for i, err := range errs {
				if errors.Is(err, invite.ErrConflict) {
					conflicts++ // documented: Upsert gives up after maxRetries
					continue
				}
				if err != nil {
					t.Errorf("round %d upsert %d: %s", round, i, describe(err))
					continue
				}
				if res[i].Created {
					created++
				}
			}
			if created != 1 {
				t.Errorf("round %d: created %d", round, created)
			}
			c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", "email_key = ?", email)
			if c != 1 {
				t.Errorf("round %d: %d rows", round, c)
			}
		}
	})
}

// TestRaceSupersedeVsAccept: Create(Supersede) racing Accept of the old one.
func TestRaceSupersedeVsAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 8
		for round := range 15 {
			email := fmt.Sprintf("ss%d@example.com", round)
			old, err := m.Create(ctx, in("t1", invite.Invitee{Email: email, UserID: "x" + email}))
			require.NoError(t, err)
			accErrs := make([]error, n)
			accs := make([]*invite.Acceptance, n)
			errs := goRace(2*n, func(i int) error {
				if i%2 == 0 {
					x := in("t1", invite.Invitee{Email: email})
					x.Supersede = true
					_, err := m.Create(ctx, x)
					return err
				}
				var err error
				accs[i/2], err = m.Accept(ctx, old.Token.Reveal(), invite.AcceptInput{Subject: "x" + email})
				accErrs[i/2] = err
				return nil
			})
			for i, err := range errs {
				if opaque(err, invite.ErrAlreadyExists, invite.ErrConflict) {
					t.Errorf("round %d create %d: %s", round, i, describe(err))
				}
			}
			accepted := false
			for i, err := range accErrs {
				if err == nil {
					accepted = true
					continue
				}
				if opaque(err, invite.ErrAlreadyAccepted, invite.ErrInvalidTransition) { // a *TransitionError matches the latter
					t.Errorf("round %d accept %d: %s", round, i, describe(err))
				}
			}
			got, err := st.Get(ctx, "t1", old.Invitation.ID)
			require.NoError(t, err)
			if accepted != (got.Invitation.State == invite.StateAccepted) {
				t.Errorf("round %d: accept said %v, state %s", round, accepted, got.Invitation.State)
			}
			c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", "email_key = ? AND state IN ('pending','sent')", email)
			if c > 1 {
				t.Errorf("round %d: %d open", round, c)
			}
		}
	})
}

// TestRaceResendVsAccept: Resend rotates the token while Accept uses the
// old one, with and without KeepPreviousTokens.
func TestRaceResendVsAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
				m, st, db := be.raceManager(t, func(c *invite.Config) { c.KeepPreviousTokens = keep })
				ctx := context.Background()
				const n = 8
				for round := range 12 {
					old, err := m.Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("rs%d@example.com", round)}))
					require.NoError(t, err)
					id := old.Invitation.ID
					var mu sync.Mutex
					tokens := []string{old.Token.Reveal()}
					errs := goRace(2*n, func(i int) error {
						if i%2 == 0 {
							r, err := m.Resend(ctx, "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
							if err == nil {
								mu.Lock()
								tokens = append(tokens, r.Token.Reveal())
								mu.Unlock()
							}
							if errors.Is(err, invite.ErrInvalidTransition) {
								return nil
							}
							return err
						}
						mu.Lock()
						tok := tokens[len(tokens)-1]
						mu.Unlock()
						_, err := m.Accept(ctx, tok, invite.AcceptInput{Subject: fmt.Sprintf("s%d", i)})
						if errors.Is(err, invite.ErrInvalidToken) || errors.Is(err, invite.ErrAlreadyAccepted) {
							return nil
						}
						return err
					})
					for i, err := range errs {
						if err != nil {
							t.Errorf("round %d op %d: %s", round, i, describe(err))
						}
					}
					got, err := st.Get(ctx, "t1", id)
					require.NoError(t, err)
					// token rows must be exactly current+previous of the stored record
					want := 0
					if !got.Credentials.TokenHash.IsZero() {
						want++
					}
					want += len(got.Credentials.PreviousTokens)
					c := countRows(t, db, be.dialect, st.TablePrefix()+"tokens", "invitation_id = ?", id)
					if c != want {
						t.Errorf("round %d: %d token rows, record has %d hashes", round, c, want)
					}
				}
			})
		}
	})
}

// TestRaceAcceptCodeLimit: parallel wrong guesses never exceed the limit.
func TestRaceAcceptCodeLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, _ := be.raceManager(t, func(c *invite.Config) { c.CodeMaxAttempts = 3 })
		ctx := context.Background()
		const n = 12
		for round := range 10 {
			x := in("t1", invite.Invitee{Email: fmt.Sprintf("code%d@example.com", round)})
			x.WithCode = true
			res, err := m.Create(ctx, x)
			require.NoError(t, err)
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			// A well-formed wrong code (its last character changed within
			// the alphabet), so that each guess reaches the hash check.
			right := res.Code.Reveal()
			last := strings.IndexByte(invite.CodeAlphabet, right[len(right)-1])
			wrong := right[:len(right)-1] + string(invite.CodeAlphabet[(last+1)%len(invite.CodeAlphabet)])
			errs := goRace(n, func(int) error {
				_, err := m.AcceptCode(ctx, ref, wrong, invite.AcceptInput{Subject: "s"})
				return err
			})
			invalid := 0
			for i, err := range errs {
				switch {
				case errors.Is(err, invite.ErrCodeLocked): // matches ErrInvalidCode too: first
				case errors.Is(err, invite.ErrInvalidCode):
					invalid++
				default:
					t.Errorf("round %d guess %d: %s", round, i, describe(err))
				}
			}
			got, err := st.Get(ctx, "t1", res.Invitation.ID)
			require.NoError(t, err)
			if got.Credentials.CodeFailures != 3 || invalid != 3 {
				t.Errorf("round %d: failures %d, invalid answers %d", round, got.Credentials.CodeFailures, invalid)
			}
			if _, err := m.AcceptCode(ctx, ref, res.Code.Reveal(), invite.AcceptInput{Subject: "s"}); !errors.Is(err, invite.ErrCodeLocked) {
				t.Errorf("round %d: right code after lock: %s", round, describe(err))
			}
		}
	})
}

// TestRaceMaintenanceVsAccept: ExpireDue and Purge racing Accept and
// Resend/Create on expiring invitations.
func TestRaceMaintenanceVsAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		// The clock moves only between races (goRace's goroutines have
		// ended), so it needs no lock.
		now := time.Now().UTC()
		m, _, _ := be.raceManager(t, func(c *invite.Config) { c.Now = func() time.Time { return now } })
		ctx := context.Background()
		const n = 10
		for round := range 8 {
			now = now.Add(48 * time.Hour)
			// closed ones for purge, open ones soon to lapse
			var toks []string
			for i := range n {
				x := in("t1", invite.Invitee{Email: fmt.Sprintf("mx%d-%d@example.com", round, i)})
				x.ExpiresIn = time.Hour
				r, err := m.Create(ctx, x)
				require.NoError(t, err)
				toks = append(toks, r.Token.Reveal())
			}
			// half of them lapse
			now = now.Add(30 * time.Minute)
			errs := goRace(3*n, func(i int) error {
				switch {
				case i < n:
					_, err := m.Accept(ctx, toks[i], invite.AcceptInput{Subject: "s"})
					if errors.Is(err, invite.ErrExpired) || errors.Is(err, invite.ErrInvalidToken) {
						return nil
					}
					return err
				case i < 2*n:
					_, err := m.ExpireDue(ctx, 100)
					return err
				default:
					_, err := m.Purge(ctx, 0, 100)
					return err
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d op %d: %s", round, i, describe(err))
				}
			}
		}
	})
}

// TestRaceMixedStress: random Manager operations over a small key space;
// every error must be a sentinel (or a transition error), never a driver's.
func TestRaceMixedStress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, func(c *invite.Config) { c.KeepPreviousTokens = true })
		ctx := context.Background()
		const workers = 16
		ops := 60
		var mu sync.Mutex
		type live struct{ id, tok string }
		var lives []live
		pick := func(r int) (live, bool) {
			mu.Lock()
			defer mu.Unlock()
			if len(lives) == 0 {
				return live{}, false
			}
			return lives[r%len(lives)], true
		}
		add := func(l live) { mu.Lock(); lives = append(lives, l); mu.Unlock() }
		goRace(workers, func(w int) error {
			for k := range ops {
				r := w*7919 + k*104729
				key := r % 7
				iv := invite.Invitee{Email: fmt.Sprintf("k%d@example.com", key)}
				if r%3 == 0 {
					iv.Phone = fmt.Sprintf("+1555000%04d", (key+1)%7)
				}
				if r%5 == 0 {
					iv.UserID = fmt.Sprintf("user%d", (key+2)%7)
				}
				var err error
				var what string
				switch r % 11 {
				case 0, 1:
					what = "create"
					var res *invite.Result
					res, err = m.Create(ctx, in("t1", iv))
					if err == nil {
						add(live{res.Invitation.ID, res.Token.Reveal()})
					}
				case 2:
					what = "supersede"
					x := in("t1", iv)
					x.Supersede = true
					var res *invite.Result
					res, err = m.Create(ctx, x)
					if err == nil {
						add(live{res.Invitation.ID, res.Token.Reveal()})
					}
				case 3:
					what = "upsert"
					var res *invite.UpsertResult
					res, err = m.Upsert(ctx, in("t1", iv))
					if err == nil && res.Created {
						add(live{res.Invitation.ID, res.Token.Reveal()})
					}
				case 4, 5:
					what = "accept"
					if l, ok := pick(r); ok {
						_, err = m.Accept(ctx, l.tok, invite.AcceptInput{Subject: fmt.Sprintf("s%d", w)})
					}
				case 6:
					what = "resend"
					if l, ok := pick(r); ok {
						var res *invite.Result
						res, err = m.Resend(ctx, "t1", l.id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
						if err == nil {
							add(live{l.id, res.Token.Reveal()})
						}
					}
				case 7:
					what = "revoke"
					if l, ok := pick(r); ok {
						_, err = m.Revoke(ctx, "t1", l.id, "x")
					}
				case 8:
					what = "expiredue"
					_, err = m.ExpireDue(ctx, 50)
				case 9:
					what = "purge"
					_, err = m.Purge(ctx, 0, 50)
				case 10:
					what = "delete"
					if l, ok := pick(r); ok {
						var cur *invite.Record
						cur, err = st.Get(ctx, "t1", l.id)
						if err == nil {
							err = m.Delete(ctx, "t1", l.id, cur.Invitation.Version)
						}
					}
				}
				// ErrRetryable: a deadlock that outlasted the Store's five
				// attempts, as documented; 16 workers on 7 invitees make
				// that possible on MySQL.
				if opaque(err, invite.ErrAlreadyExists, invite.ErrConflict, invite.ErrNotFound, invite.ErrAlreadyAccepted,
					invite.ErrInvalidToken, invite.ErrExpired, invite.ErrInvalidTransition, invite.ErrSubjectMismatch,
					sqlstore.ErrRetryable) {
					t.Errorf("worker %d op %d %s: %s", w, k, what, describe(err))
				}
			}
			return nil
		})
		// invariant: at most one open per key; token rows match records
		for key := range 7 {
			c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", "email_key = ? AND state IN ('pending','sent')", fmt.Sprintf("k%d@example.com", key))
			if c > 1 {
				t.Errorf("key %d: %d open", key, c)
			}
		}
		orphans := countRows(t, db, be.dialect, st.TablePrefix()+"tokens k", "NOT EXISTS (SELECT 1 FROM "+st.TablePrefix()+"invitations i WHERE i.tenant_id = k.tenant_id AND i.id = k.invitation_id)")
		if orphans > 0 {
			t.Errorf("%d orphan token rows", orphans)
		}
	})
}

// TestRacePurgeVsWriters: two purgers in a loop (a periodic job on two
// replicas) while writers create (Supersede), accept and revoke. Purge must
// not fail with a deadlock, and no writer either. (On MySQL a locking scan
// of the purge_at index used to lock the gap new open invitations go into:
// every Create waited for the purge, and batches that close one invitation
// and insert another deadlocked with it.)
func TestRacePurgeVsWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, mode := range []string{"supersede", "plain"} {
			t.Run(mode, func(t *testing.T) {
				m, st, _ := be.raceManager(t, nil)
				ctx := context.Background()
				storeClosed(t, st, "t1", "old", 40) // some closed invitations to purge
				const writers = 8
				stop := make(chan struct{})
				var purgeErrs, purges, purged int
				var wg sync.WaitGroup
				var pmu sync.Mutex
				const purgers = 2 // replicas running the job at once
				for range purgers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-stop:
								return
							default:
							}
							n, err := m.Purge(ctx, 0, 20)
							pmu.Lock()
							purges++
							purged += n
							if err != nil {
								purgeErrs++
								if purgeErrs <= 3 {
									t.Errorf("purge: %s", describe(err))
								}
							}
							pmu.Unlock()
						}
					}()
				}
				errs := goRace(writers, func(w int) error {
					for k := range 25 {
						x := in("t1", invite.Invitee{Email: fmt.Sprintf("w%d-%d@example.com", w, k%3)})
						x.Supersede = mode == "supersede"
						r, err := m.Create(ctx, x)
						if errors.Is(err, invite.ErrAlreadyExists) {
							continue
						}
						if err != nil {
							return fmt.Errorf("create: %w", err)
						}
						if k%2 == 0 {
							if _, err := m.Accept(ctx, r.Token.Reveal(), invite.AcceptInput{Subject: "s"}); err != nil {
								return fmt.Errorf("accept: %w", err)
							}
						} else if mode == "plain" {
							if _, err := m.Revoke(ctx, "t1", r.Invitation.ID, ""); err != nil {
								return fmt.Errorf("revoke: %w", err)
							}
						}
					}
					return nil
				})
				close(stop)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("writer %d: %s", i, describe(err))
					}
				}
				t.Logf("%d purges (%d failed), %d purged", purges, purgeErrs, purged)
			})
		}
	})
}

// TestRaceConcurrentPurges: several replicas run Purge at once while
// writers close invitations.
func TestRaceConcurrentPurges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, writers := range []int{0, 4} {
			t.Run(fmt.Sprint("writers=", writers), func(t *testing.T) {
				m, st, _ := be.raceManager(t, nil)
				ctx := context.Background()
				for round := range 5 {
					storeClosed(t, st, "t1", fmt.Sprint("p", round), 60)
					errs := goRace(4+writers, func(i int) error {
						if i >= 4 {
							for k := range 6 {
								r, err := m.Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("pw%d-%d-%d@example.com", round, i, k)}))
								if err != nil {
									return err
								}
								if _, err := m.Accept(ctx, r.Token.Reveal(), invite.AcceptInput{Subject: "s"}); err != nil {
									return err
								}
							}
							return nil
						}
						_, err := m.Purge(ctx, 0, 25)
						return err
					})
					for i, err := range errs {
						if err != nil {
							t.Errorf("round %d op %d: %s", round, i, describe(err))
						}
					}
				}
			})
		}
	})
}

// TestRaceCancelMidApply: a batch of several inserts (and their events)
// and one update, with the context cancelled at a random moment: all of it
// or none of it, and an error only when nothing committed.
func TestRaceCancelMidApply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, size := range []int{1, 25} {
			t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
				st, db := be.newStore(t)
				p := st.TablePrefix()
				var stats = map[string]int{}
				for round := range 40 { // every delay twice
					b := &invite.Batch{}
					tenant := fmt.Sprintf("c%d", round)
					for i := range size {
						r := validRecord(tenant, fmt.Sprintf("id%d", i), fmt.Sprintf("c%d-%d@example.com", round, i))
						b.Writes = append(b.Writes, invite.Write{Record: r})
						b.Events = append(b.Events, invite.Event{ID: fmt.Sprintf("ev-%d-%d", round, i), Type: invite.EventCreated,
							Time: r.Invitation.CreatedAt, TenantID: tenant, InvitationID: r.Invitation.ID, New: &r.Invitation})
					}
					ctx, cancel := context.WithCancel(context.Background())
					delay := time.Duration(round%20) * 150 * time.Microsecond
					go func() { time.Sleep(delay); cancel() }()
					err := st.Apply(ctx, b)
					cancel()
					// One statement, one snapshot: a cancelled statement
					// may still commit on the server while this counts.
					var inv, tok, ev int
					q := "SELECT (SELECT count(*) FROM " + p + "invitations WHERE tenant_id = ?), (SELECT count(*) FROM " + p +
						"tokens WHERE tenant_id = ?), (SELECT count(*) FROM " + p + "outbox WHERE tenant_id = ?)"
					if be.dialect == sqlstore.Postgres {
						q = rebind(q)
					}
					require.NoError(t, db.QueryRowContext(context.Background(), q, tenant, tenant, tenant).Scan(&inv, &tok, &ev))
					all := inv == size && tok == size && ev == size
					none := inv == 0 && tok == 0 && ev == 0
					switch {
					case !all && !none:
						t.Errorf("round %d: half-written: %d invitations, %d tokens, %d events (err %s)", round, inv, tok, ev, describe(err))
					case err == nil && !all:
						t.Errorf("round %d: nil error but nothing written", round)
					case err != nil && all:
						stats["committed-but-error: "+describe(err)]++
					case err != nil && !errors.Is(err, context.Canceled):
						t.Errorf("round %d: not a context error: %s", round, describe(err))
					case err == nil:
						stats["ok"]++
					default:
						stats["cancelled"]++
					}
				}
				t.Logf("%v", stats)
			})
		}
	})
}

// TestRaceCreateBatch: 300 items, some duplicates, two batches racing
// over overlapping invitees.
func TestRaceCreateBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const items, distinct = 300, 270 // 30 duplicates within a batch
		mk := func(off int) []invite.CreateInput {
			ins := make([]invite.CreateInput, items)
			for i := range ins {
				k := (i + off) % distinct
				iv := invite.Invitee{Email: fmt.Sprintf("b%d@example.com", k)}
				if k%10 == 0 {
					iv.Phone = fmt.Sprintf("+1555%07d", k)
				}
				ins[i] = in("t1", iv)
				if k%7 == 0 {
					ins[i].IdempotencyKey = fmt.Sprintf("idem-%d", k)
				}
			}
			return ins
		}
		var outs [2][]invite.BatchItem
		errs := goRace(2, func(i int) error {
			var err error
			outs[i], err = m.CreateBatch(ctx, mk(i*distinct/2))
			return err
		})
		require.NoError(t, errors.Join(errs...))
		ok, dup, replay := 0, 0, 0
		for b := range outs {
			for i, it := range outs[b] {
				switch {
				case it.Err == nil && it.Result.Replayed:
					replay++
				case it.Err == nil:
					ok++
				case errors.Is(it.Err, invite.ErrAlreadyExists):
					dup++
				default:
					t.Errorf("batch %d item %d: %s", b, i, describe(it.Err))
				}
			}
		}
		c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", "")
		t.Logf("ok %d, dup %d, replay %d, rows %d", ok, dup, replay, c)
		if c != distinct || ok != distinct {
			t.Errorf("want %d rows and %d creates", distinct, distinct)
		}
	})
}

// TestRaceAcceptRaceInHostTx: the README's flagship use, Accept inside
// the host's transaction (WithTx), by several requests at once.
func TestRaceAcceptRaceInHostTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 6
		stats := map[string]int{}
		for round := range 10 {
			res, err := m.Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("htx%d@example.com", round)}))
			require.NoError(t, err)
			accs := make([]*invite.Acceptance, n)
			errs := goRace(n, func(i int) error {
				return inHostTx(ctx, db, st, m, func(m *invite.Manager) (err error) {
					accs[i], err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: fmt.Sprintf("s%d", i%2)})
					return err
				})
			})
			winners := 0
			for i, err := range errs {
				switch {
				case err == nil && accs[i].Replayed:
					stats["replayed"]++
				case err == nil:
					winners++
					stats["won"]++
				case errors.Is(err, invite.ErrAlreadyAccepted):
					stats["already accepted"]++
				case sqlstore.IsRetryable(err):
					stats["retryable (host reruns its tx)"]++
				default:
					t.Errorf("round %d acceptor %d: %s", round, i, describe(err))
				}
			}
			if winners != 1 {
				t.Errorf("round %d: %d winners", round, winners)
			}
		}
		t.Logf("%v", stats)
	})
}

// TestRaceResendStorm: many concurrent Resends (token rotations) of one
// invitation, with Accepts of whatever token is current.
func TestRaceResendStorm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, _, _ := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 12
		stats := map[string]int{}
		for round := range 12 {
			r, err := m.Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("storm%d@example.com", round)}))
			require.NoError(t, err)
			errs := goRace(n, func(i int) error {
				_, err := m.Resend(ctx, "t1", r.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
				return err
			})
			for i, err := range errs {
				switch {
				case err == nil:
					stats["ok"]++
				case errors.Is(err, invite.ErrConflict):
					stats["ErrConflict (gave up)"]++
				default:
					t.Errorf("round %d resend %d: %s", round, i, describe(err))
				}
			}
		}
		t.Logf("%v", stats)
	})
}

// TestRaceSupersedeInHostTx: Create with Supersede for one invitee from
// several host transactions at once: each must succeed (revoking the
// previous one), as it does outside a host transaction.
func TestRaceSupersedeInHostTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		const n = 4
		stats := map[string]int{}
		for round := range 10 {
			email := fmt.Sprintf("shtx%d@example.com", round)
			_, err := m.Create(ctx, in("t1", invite.Invitee{Email: email}))
			require.NoError(t, err)
			errs := goRace(n, func(int) error {
				return inHostTx(ctx, db, st, m, func(m *invite.Manager) error {
					x := in("t1", invite.Invitee{Email: email})
					x.Supersede = true
					_, err := m.Create(ctx, x)
					return err
				})
			})
			for i, err := range errs {
				switch {
				case err == nil:
					stats["ok"]++
				case sqlstore.IsRetryable(err):
					stats["retryable"]++
				default:
					t.Errorf("round %d create %d: %s", round, i, describe(err))
				}
			}
			c := countRows(t, db, be.dialect, st.TablePrefix()+"invitations", "email_key = ? AND state IN ('pending','sent')", email)
			if c != 1 {
				t.Errorf("round %d: %d open", round, c)
			}
		}
		t.Logf("%v", stats)
	})
}

// TestRaceSQLiteTwoProcesses: two pools (two processes) on one file, each
// with its own Store, racing Accept and Create.
func TestRaceSQLiteTwoProcesses(t *testing.T) {
	path := t.TempDir() + "/two.db"
	var ms [2]*invite.Manager
	for i := range ms {
		db, err := sql.Open("sqlite", sqliteDSN(path))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		st, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
		require.NoError(t, err)
		require.NoError(t, st.Migrate(context.Background()))
		ms[i] = raceManager(t, st, nil)
	}
	ctx := context.Background()
	for round := range 15 {
		res, err := ms[0].Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("two%d@example.com", round)}))
		require.NoError(t, err)
		accs := make([]*invite.Acceptance, 16)
		errs := goRace(16, func(i int) error {
			if i >= 12 {
				_, err := ms[i%2].Create(ctx, in("t1", invite.Invitee{Email: fmt.Sprintf("two%d-x@example.com", round)}))
				if errors.Is(err, invite.ErrAlreadyExists) {
					return nil
				}
				return err
			}
			var err error
			accs[i], err = ms[i%2].Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: fmt.Sprintf("s%d", i%3)})
			if errors.Is(err, invite.ErrAlreadyAccepted) {
				return nil
			}
			return err
		})
		winners := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d op %d: %s", round, i, describe(err))
			} else if i < 12 && accs[i] != nil && !accs[i].Replayed {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d winners", round, winners)
		}
	}
}

// TestRaceTenantIsolation: the same id in two tenants, rotated,
// updated and deleted at once.
func TestRaceTenantIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		st, db := be.newStore(t)
		ctx := context.Background()
		for round := range 15 {
			id := fmt.Sprintf("same-%d", round)
			a := validRecord("ta", id, id+"@example.com")
			b := validRecord("tb", id, id+"@example.com")
			require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: a}}}))
			require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: b}}}))
			errs := goRace(8, func(i int) error {
				switch i % 4 {
				case 0: // delete a
					return st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: a, Expect: 1, Delete: true}}})
				case 1: // rotate b
					nb := b.Clone()
					nb.Invitation.Version = 2
					h := tokenHash()
					nb.Credentials.TokenHash = h
					return st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: nb, Expect: 1}}})
				case 2: // rotate a
					na := a.Clone()
					na.Invitation.Version = 2
					h := tokenHash()
					na.Credentials.TokenHash = h
					return st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: na, Expect: 1}}})
				default: // accept b
					nb := b.Clone()
					nb.Invitation.Version = 2
					nb.Invitation.State = invite.StateAccepted
					nb.Invitation.ClosedAt = nb.Invitation.CreatedAt
					return st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: nb, Expect: 1}}})
				}
			})
			for i, err := range errs {
				if opaque(err, invite.ErrConflict, invite.ErrNotFound) {
					t.Errorf("round %d op %d: %s", round, i, describe(err))
				}
			}
			gb, err := st.Get(ctx, "tb", id)
			require.NoError(t, err, "tenant b's record must survive")
			c := countRows(t, db, be.dialect, st.TablePrefix()+"tokens", "tenant_id = ? AND invitation_id = ?", "tb", id)
			if c != 1 {
				t.Errorf("round %d: tenant b has %d token rows", round, c)
			}
			rb, err := st.GetByTokenHash(ctx, gb.Credentials.TokenHash)
			if err != nil || rb.Invitation.TenantID != "tb" {
				t.Errorf("round %d: b's token: %v", round, err)
			}
			ca := countRows(t, db, be.dialect, st.TablePrefix()+"tokens", "tenant_id = ? AND invitation_id = ?", "ta", id)
			if _, err := st.Get(ctx, "ta", id); errors.Is(err, invite.ErrNotFound) && ca != 0 {
				t.Errorf("round %d: a deleted but %d token rows", round, ca)
			} else if err == nil && ca != 1 {
				t.Errorf("round %d: a present with %d token rows", round, ca)
			}
		}
	})
}

// A Create with Supersede in a host's transaction whose snapshot predates
// the invitation it must supersede (committed by another request): the
// insert collides with a row its plain reads cannot see. On MySQL the
// collision switches the Store to locking reads, so FindOpen finds the
// blocker and the Create succeeds, as outside a transaction.
func TestRaceSupersedeInvisibleBlockerInHostTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		if be.dialect == sqlstore.SQLite {
			t.Skip("SQLite admits one writer: no other request commits while the host's transaction is open")
		}
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		other, err := m.Create(ctx, in("t1", invite.Invitee{Email: "other@example.com"}))
		require.NoError(t, err)
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		hm := m.WithStore(st.WithTx(tx))
		_, err = hm.Get(ctx, "t1", other.Invitation.ID) // the snapshot
		require.NoError(t, err)
		_, err = m.Create(ctx, in("t1", invite.Invitee{Email: "x@example.com"})) // committed after it
		require.NoError(t, err)
		x := in("t1", invite.Invitee{Email: "x@example.com"})
		x.Supersede = true
		_, err = hm.Create(ctx, x)
		require.NoError(t, err)
	})
}

// After a stale guarded write in a host's transaction (on MySQL: locking
// reads from then on), FindOpen with several keys (a UNION ALL of locking
// selects) and a superseding Create work.
func TestRaceFindOpenLockingInHostTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		if be.dialect == sqlstore.SQLite {
			t.Skip("SQLite admits one writer: no other request commits while the host's transaction is open")
		}
		m, st, db := be.raceManager(t, nil)
		ctx := context.Background()
		a, err := m.Create(ctx, in("t1", invite.Invitee{Email: "a@example.com"}))
		require.NoError(t, err)
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		hst := st.WithTx(tx)
		hm := m.WithStore(hst)
		_, err = hm.Get(ctx, "t1", a.Invitation.ID)
		require.NoError(t, err)
		_, err = m.Revoke(ctx, "t1", a.Invitation.ID, "")
		require.NoError(t, err)
		_, err = m.Create(ctx, in("t1", invite.Invitee{Email: "x@example.com"}))
		require.NoError(t, err)
		_, err = hm.Revoke(ctx, "t1", a.Invitation.ID, "")
		t.Logf("stale revoke: %v", err)
		x := in("t1", invite.Invitee{Email: "x@example.com", Phone: "+4930123456"})
		x.Supersede = true
		_, err = hm.Create(ctx, x)
		require.NoError(t, err)
		open, err := hst.FindOpen(ctx, "t1", invite.Invitee{Email: "x@example.com", Phone: "+4930123456", UserID: "zz"})
		require.NoError(t, err)
		require.Len(t, open, 1)
	})
}

// The same subject accepting by code from several requests at once.

// Parallel AcceptCode calls by one subject with the right code: one
// accepts, the others replay; none fails (a replay writes nothing, so it
// cannot lose a race).
func TestRaceParallelAcceptCodeSameSubject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		m, _, _ := be.raceManager(t, nil)
		ctx := context.Background()
		bad := 0
		for round := range 10 {
			x := in("t1", invite.Invitee{Email: fmt.Sprintf("c%d@example.com", round)})
			x.WithCode = true
			res, err := m.Create(ctx, x)
			require.NoError(t, err)
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			const n = 12
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = m.AcceptCode(ctx, ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u1"})
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					bad++
					if bad < 3 {
						t.Logf("round %d: %v", round, err)
					}
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d parallel AcceptCode calls by the accepting subject failed", bad, 10*12)
		}
	})
}
