package invite_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/memstore"
)

// invitetest.FastCodeHash keeps argon2id fast in tests.

// newClock returns a test clock whose start has nanoseconds and a non-UTC
// zone, so that the Manager's truncation to UTC microseconds shows.
func newClock() *invitetest.Clock {
	return invitetest.NewClock(time.Date(2031, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 2*3600)))
}

// managerNow is what the Manager sees for the clock's current reading.
func managerNow(c *invitetest.Clock) time.Time { return c.Now().UTC().Truncate(time.Microsecond) }

// outboxStore is a Store with the Outbox and OpenLimiter abilities, as
// memstore is.
type outboxStore interface {
	invite.Store
	invite.Outbox
	invite.OpenLimiter
}

// countingStore counts the token-hash lookups that reach the store.
type countingStore struct {
	outboxStore
	byToken atomic.Int64
}

func (s *countingStore) GetByTokenHash(ctx context.Context, h invite.TokenHash) (*invite.Record, error) {
	s.byToken.Add(1)
	return s.outboxStore.GetByTokenHash(ctx, h)
}

type env struct {
	t      *testing.T
	m      *invite.Manager
	mem    *memstore.Store
	store  *countingStore
	clock  *invitetest.Clock
	notes  *invitetest.Notifier
	events *eventLog
	logs   *invitetest.Buffer
	cfg    invite.Config
}

// newEnv builds a Manager on a fresh memstore with a fake clock, a recording
// notifier and event sink, a JSON logger and cheap argon2 parameters. opts
// adjust the Config before New.
func newEnv(t *testing.T, opts ...func(*invite.Config)) *env {
	t.Helper()
	e := &env{t: t, mem: memstore.New(), clock: newClock(), notes: &invitetest.Notifier{},
		events: &eventLog{EventLog: &invitetest.EventLog{}}, logs: &invitetest.Buffer{}}
	e.store = &countingStore{outboxStore: e.mem}
	cfg := invite.Config{
		Now:            e.clock.Now,
		Logger:         slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Notifier:       e.notes,
		EventSink:      e.events.EventLog,
		CodeHashParams: invitetest.FastCodeHash,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := invite.New(e.store, cfg)
	require.NoError(t, err)
	e.m, e.cfg = m, cfg
	if cfg.EventSink != nil {
		// The events wait in the outbox: the log delivers them before
		// every look at it.
		d, err := m.NewDispatcher(invite.DispatcherConfig{Kinds: []invite.OutboxKind{invite.OutboxEvent}, Concurrency: 1})
		require.NoError(t, err)
		e.events.drain = func() {
			_, err := d.Drain(context.Background())
			require.NoError(t, err)
		}
	}
	return e
}

// eventLog is the env's EventLog, which drains the outbox's events into
// itself before every look.
type eventLog struct {
	*invitetest.EventLog
	drain func()
}

func (l *eventLog) sync() {
	if l.drain != nil {
		l.drain()
	}
}

func (l *eventLog) Events() []invite.Event {
	l.sync()
	return l.EventLog.Events()
}

func (l *eventLog) Types() []invite.EventType {
	l.sync()
	return l.EventLog.Types()
}

func (l *eventLog) Reset() {
	l.sync()
	l.EventLog.Reset()
}

func (e *env) ctx() context.Context { return e.t.Context() }

// input is a valid CreateInput for email in tenant "t1" that returns its
// secret to the caller.
func input(email string) invite.CreateInput {
	return invite.CreateInput{
		TenantID:    "t1",
		Invitee:     invite.Invitee{Email: email},
		GivenName:   "Ada",
		FamilyName:  "Lovelace",
		Inviter:     invite.Inviter{ID: "admin-1", Name: "Grace Hopper"},
		AccountName: "Analytical Engines",
		Roles:       []string{"member"},
		RedirectURI: "https://app.example/register",
		Delivery:    invite.DeliveryReturn,
	}
}

func (e *env) create(in invite.CreateInput) *invite.Result {
	e.t.Helper()
	res, err := e.m.Create(e.ctx(), in)
	require.NoError(e.t, err)
	require.NotNil(e.t, res)
	require.NoError(e.t, res.DeliveryErr)
	return res
}

func (e *env) get(tenant, id string) *invite.Invitation {
	e.t.Helper()
	inv, err := e.m.Get(e.ctx(), tenant, id)
	require.NoError(e.t, err)
	return inv
}

func (e *env) record(tenant, id string) *invite.Record {
	e.t.Helper()
	rec, err := e.mem.Get(e.ctx(), tenant, id)
	require.NoError(e.t, err)
	return rec
}

// count returns how many invitations of tenant List sees, expired included.
func (e *env) count(tenant string) int {
	e.t.Helper()
	page, err := e.m.List(e.ctx(), tenant, invite.ListOptions{Filter: invite.Filter{IncludeExpired: true,
		States: invite.States}, Limit: invite.MaxPageSize})
	require.NoError(e.t, err)
	return len(page.Invitations)
}

// requireValidation asserts err is a *ValidationError naming every field,
// and that each of its field errors has a specific Code (not the
// CodeInvalid fallback) and a JSON pointer: every validation test holds
// the reason-to-code rules.
func requireValidation(t *testing.T, err error, fields ...string) *invite.ValidationError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, invite.ErrInvalid)
	var ve *invite.ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %T: %v", err, err)
	for _, f := range fields {
		require.True(t, ve.Has(f), "field %q missing from %v", f, err)
	}
	for _, f := range ve.Fields {
		require.NotEmpty(t, f.Code, "%s: %s", f.Field, f.Reason)
		require.NotEqual(t, invite.CodeInvalid, f.Code, "no code rule matches %s: %q", f.Field, f.Reason)
		require.True(t, strings.HasPrefix(f.Pointer(), "/"), "%s: pointer %q", f.Field, f.Pointer())
	}
	return ve
}

// requireTransition asserts err is a *TransitionError from the given state.
func requireTransition(t *testing.T, err error, from invite.State) {
	t.Helper()
	require.ErrorIs(t, err, invite.ErrInvalidTransition)
	var te *invite.TransitionError
	require.True(t, errors.As(err, &te), "want *TransitionError, got %T: %v", err, err)
	require.Equal(t, from, te.From)
}

// concurrently runs fns at once, each in its own goroutine, released
// together, and waits for them all.
func concurrently(fns ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			fn()
		})
	}
	close(start)
	wg.Wait()
}

// inParallel runs fn(0) to fn(n-1) at once (concurrently) and waits.
func inParallel(n int, fn func(i int)) {
	fns := make([]func(), n)
	for i := range fns {
		fns[i] = func() { fn(i) }
	}
	concurrently(fns...)
}

// week is the default validity.
const week = 7 * 24 * time.Hour

func requireUUIDv7(t *testing.T, s string) {
	t.Helper()
	u, err := uuid.Parse(s)
	require.NoError(t, err, s)
	require.EqualValues(t, 7, u.Version(), s)
}

// ---------------------------------------------------------------- create

func ptr[T any](v T) *T { return &v }

// mintToken is invite.MintToken for a prefix the test knows is valid.
func mintToken(tb testing.TB, prefix string) (invite.Secret, invite.TokenHash) {
	tb.Helper()
	tok, h, err := invite.MintToken(prefix)
	require.NoError(tb, err)
	return tok, h
}

// mintCode is invite.MintCode for arguments the test knows are valid.
func mintCode(tb testing.TB, n int, p invite.CodeHashParams) (invite.Secret, []byte) {
	tb.Helper()
	code, h, err := invite.MintCode(n, p)
	require.NoError(tb, err)
	return code, h
}
