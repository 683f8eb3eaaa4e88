// Package storetest is the conformance suite for invite.Store
// implementations: the promises of the Store contract, made executable.
//
// A store author runs it from an ordinary test, with a constructor that
// returns a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) invite.Store {
//			db := openEmptySchema(t) // a new schema, database or file per call
//			t.Cleanup(func() { db.Close() })
//			return mystore.New(db)
//		})
//	}
//
// Run calls newStore once for every subtest and never shares a store between
// two of them; the store must start empty, because ListDue and Purge sweep
// every tenant. Release what newStore opens with t.Cleanup. Run the suite
// with -race: many subtests hammer one store from many goroutines.
//
// The suite talks to the store only through the invite.Store interface,
// plus an invite.Manager built on it (invite.DeliveryReturn, no notifier)
// for the behaviours the Manager builds on the contract: the accept race
// (many goroutines accepting one token, exactly one wins), replacing an
// expired invitation, Supersede and idempotent Create.
//
// What it expects back is what it wrote: every Invitation and Credentials
// field, with these allowances only. Times are written in UTC with
// microsecond precision and must come back equal (time.Time.Equal) and in
// UTC (Location() == time.UTC). Metadata is compared as JSON, so a store may
// re-encode it (PostgreSQL jsonb does). A nil and an empty slice or map are
// the same.
//
// The subtests are grouped by topic: CRUD, Uniqueness, Atomicity, CAS,
// TenantIsolation, TokenHash, FindOpen, List, Count, TimePrecision, ListDue,
// Purge, Quota (a store that implements invite.OpenLimiter) and Manager;
// `go test -run 'TestConformance/List/'` runs one group. The
// loops that dominate the runtime on a networked database (the accept race,
// concurrent writers, long paginations) are sized by Options; pass smaller
// ones to RunWithOptions for a quick pass.
package storetest

import (
	"testing"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// Options sizes the loops of the suite. A zero field takes its default.
type Options struct {
	// AcceptRaceRounds is how many invitations the accept race is run on,
	// each with AcceptRaceGoroutines goroutines accepting the same token
	// with different subjects. Defaults: 200 and 32.
	AcceptRaceRounds     int
	AcceptRaceGoroutines int
	// SameSubjectRounds is how many invitations are accepted concurrently by
	// AcceptRaceGoroutines goroutines with the same subject. Default: 20.
	SameSubjectRounds int
	// ConcurrentRounds is how many times each concurrent-writer case (racing
	// updates from one version, racing inserts of colliding records) is
	// run, with ConcurrentGoroutines writers. Defaults: 10 and 16.
	ConcurrentRounds     int
	ConcurrentGoroutines int
	// PaginationRecords is how many records the pagination subtests page
	// through (rounded up to a multiple of 6). Default: 60.
	PaginationRecords int
	// ConcurrentInserts is how many records four goroutines insert while a
	// listing pages through PaginationRecords others. Default: 60.
	ConcurrentInserts int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.AcceptRaceRounds, 200)
	def(&o.AcceptRaceGoroutines, 32)
	def(&o.SameSubjectRounds, 20)
	def(&o.ConcurrentRounds, 10)
	def(&o.ConcurrentGoroutines, 16)
	def(&o.PaginationRecords, 60)
	def(&o.ConcurrentInserts, 60)
	o.PaginationRecords = (o.PaginationRecords + 5) / 6 * 6
	return o
}

// Run runs the whole suite with the default Options. newStore must return a
// new, empty store on every call; it is called once per subtest, with that
// subtest's t.
func Run(t *testing.T, newStore func(t *testing.T) invite.Store) {
	t.Helper()
	RunWithOptions(t, newStore, Options{})
}

// RunWithOptions is Run with the loop sizes of opts.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) invite.Store, opts Options) {
	t.Helper()
	s := &suite{newStore: newStore, opts: opts.withDefaults()}
	t.Run("CRUD", s.testCRUD)
	t.Run("Uniqueness", s.testUniqueness)
	t.Run("Atomicity", s.testAtomicity)
	t.Run("CAS", s.testCAS)
	t.Run("TenantIsolation", s.testTenantIsolation)
	t.Run("TokenHash", s.testTokenHash)
	t.Run("FindOpen", s.testFindOpen)
	t.Run("List", s.testList)
	t.Run("Count", s.testCount)
	t.Run("TimePrecision", s.testTimePrecision)
	t.Run("ListDue", s.testListDue)
	t.Run("Purge", s.testPurge)
	t.Run("Quota", s.testQuota)
	t.Run("Manager", s.testManager)
}

type suite struct {
	newStore func(t *testing.T) invite.Store
	opts     Options
}

// store returns a fresh store for the subtest t.
func (s *suite) store(t *testing.T) invite.Store {
	t.Helper()
	st := s.newStore(t)
	require.NotNil(t, st, "newStore returned nil")
	return st
}
