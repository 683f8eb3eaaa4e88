package invite_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/memstore"
	"github.com/stretchr/testify/require"
)

// sendInput is input(email) delivered through the Notifier.
func sendInput(email string) invite.CreateInput {
	in := input(email)
	in.Delivery = invite.DeliverySend
	return in
}

// messages returns a dispatcher of e's Manager that delivers messages only
// (the env's event log drains the events), with cfg's other settings.
func (e *env) messages(cfg invite.DispatcherConfig) *invite.Dispatcher {
	e.t.Helper()
	cfg.Kinds = []invite.OutboxKind{invite.OutboxMessage}
	d, err := e.m.NewDispatcher(cfg)
	require.NoError(e.t, err)
	return d
}

func drain(t *testing.T, d *invite.Dispatcher) int {
	t.Helper()
	n, err := d.Drain(t.Context())
	require.NoError(t, err)
	return n
}

// afterInline is how long after its write a queued message becomes due to a
// dispatcher at the default InlineDeliveryTimeout.
const afterInline = time.Minute

func TestDispatcherDeliversWhatTheInlineAttemptCouldNot(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "FreshSecret", true: "KeepPreviousTokens"}[keep], func(t *testing.T) {
			e := newEnv(t, func(c *invite.Config) { c.KeepPreviousTokens = keep })
			d := e.messages(invite.DispatcherConfig{})
			e.notes.Fail(errors.New("smtp: connection refused"))
			res, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
			require.NoError(t, err)
			require.ErrorIs(t, res.DeliveryErr, invite.ErrDelivery)
			require.Equal(t, invite.StatePending, res.Invitation.State)
			require.Zero(t, drain(t, d), "the message is not due while the inline attempt may still run")

			e.notes.Fail(nil)
			e.clock.Advance(afterInline)
			require.Equal(t, 1, drain(t, d))
			msgs := e.notes.Messages()
			require.Len(t, msgs, 1)
			inv := e.get("t1", res.Invitation.ID)
			require.Equal(t, invite.StateSent, inv.State)
			require.Equal(t, 1, inv.SendCount)
			require.Equal(t, res.Invitation.ExpiresAt, inv.ExpiresAt, "delivery keeps the expiry")
			require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent}, e.events.Types(),
				"minting the delivered secret emits nothing of its own")

			// The delivered link holds a new secret; the one Create returned
			// never reached anyone and works only with KeepPreviousTokens.
			sent := msgs[0].Param("token")
			require.NotEqual(t, res.Token.Reveal(), sent)
			_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
			if keep {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, invite.ErrInvalidToken)
			}
			acc, err := e.m.Accept(e.ctx(), sent, invite.AcceptInput{Subject: "u1"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)

			e.events.Events() // delivers the events
			s, err := d.Stats(e.ctx())
			require.NoError(t, err)
			require.Equal(t, uint64(1), s.Delivered)
			require.Zero(t, s.Pending)
		})
	}
}

func TestInlineDeliverySettlesTheQueuedMessage(t *testing.T) {
	e := newEnv(t)
	d := e.messages(invite.DispatcherConfig{})
	res := e.create(sendInput("ada@example.com"))
	require.Equal(t, invite.StateSent, res.Invitation.State)
	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	e.clock.Advance(24 * time.Hour)
	require.Zero(t, drain(t, d), "the write that marked it sent settled the message")
	require.Len(t, e.notes.Messages(), 1)

	// The resend's message carries a new id; both are stable per delivery.
	rs, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
	require.NoError(t, err)
	require.NoError(t, rs.DeliveryErr)
	msgs = e.notes.Messages()
	require.Len(t, msgs, 2)
	require.NotEqual(t, msgs[0].ID, msgs[1].ID)
	require.True(t, msgs[1].Resend)
	require.Equal(t, 1, e.get("t1", res.Invitation.ID).ResendCount)
	e.clock.Advance(24 * time.Hour)
	require.Zero(t, drain(t, d))
}

func TestDispatcherKeepsTheMessageIDAcrossAttempts(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var ids []string
	fails := 2
	notifier := invite.NotifierFunc(func(_ context.Context, msg invite.Message) error {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, msg.ID)
		if fails > 0 {
			fails--
			return errors.New("try later")
		}
		return nil
	})
	m, err := invite.New(e.store, invite.Config{Now: e.clock.Now, Notifier: notifier, CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)
	d, err := m.NewDispatcher(invite.DispatcherConfig{Backoff: func(int) time.Duration { return time.Minute }})
	require.NoError(t, err)
	res, err := m.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	require.Error(t, res.DeliveryErr)
	e.clock.Advance(afterInline)
	require.Equal(t, 1, drain(t, d)) // fails again: retried in a minute
	e.clock.Advance(time.Minute)
	require.Equal(t, 1, drain(t, d))
	require.Len(t, ids, 3)
	require.Equal(t, ids[0], ids[1])
	require.Equal(t, ids[0], ids[2], "every attempt carries the id receivers deduplicate on")
	inv, err := m.Get(e.ctx(), "t1", res.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, invite.StateSent, inv.State)
}

func TestDispatcherBacksOffDeadLettersAndRedrives(t *testing.T) {
	e := newEnv(t)
	d := e.messages(invite.DispatcherConfig{MaxAttempts: 3, Backoff: func(n int) time.Duration { return time.Duration(n) * time.Hour }})
	e.notes.Fail(errors.New("smtp: 451 mailbox busy"))
	res, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	e.clock.Advance(afterInline)
	require.Equal(t, 1, drain(t, d), "attempt 1 fails")
	e.clock.Advance(time.Hour - time.Microsecond)
	require.Zero(t, drain(t, d), "backing off")
	e.clock.Advance(time.Microsecond)
	require.Equal(t, 1, drain(t, d), "attempt 2 fails")
	e.clock.Advance(2 * time.Hour)
	require.Equal(t, 1, drain(t, d), "attempt 3 fails: dead")
	e.clock.Advance(100 * time.Hour)
	require.Zero(t, drain(t, d))

	s, err := d.Stats(e.ctx())
	require.NoError(t, err)
	require.Equal(t, uint64(2), s.Retried)
	require.Equal(t, uint64(1), s.DeadLettered)
	require.Equal(t, 1, s.Dead)
	logs := e.logs.String()
	require.Contains(t, logs, "will retry")
	require.Contains(t, logs, "dead-lettered")
	require.Contains(t, logs, "mailbox busy")
	requireNoSecret(t, logs, secretForms(res.Token.Reveal(), res.Link.Reveal()))

	dead, err := e.m.DeadLetters(e.ctx(), "t1", "", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, invite.OutboxMessage, dead[0].Kind)
	require.Equal(t, res.Invitation.ID, dead[0].InvitationID)
	require.Equal(t, 3, dead[0].Attempts)
	require.Contains(t, dead[0].LastError, "mailbox busy")
	other, err := e.m.DeadLetters(e.ctx(), "t2", "", 10)
	require.NoError(t, err)
	require.Empty(t, other, "another tenant sees none")
	n, err := e.m.Redrive(e.ctx(), "t2", dead[0].ID)
	require.NoError(t, err)
	require.Zero(t, n, "nor re-drives them")

	e.notes.Fail(nil)
	n, err = e.m.Redrive(e.ctx(), "t1", dead[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 1, drain(t, d))
	require.Len(t, e.notes.Messages(), 1)
	require.Equal(t, invite.StateSent, e.get("t1", res.Invitation.ID).State)
	dead, err = e.m.DeadLetters(e.ctx(), "t1", "", 10)
	require.NoError(t, err)
	require.Empty(t, dead)
}

func TestPermanentAndRetryAfter(t *testing.T) {
	t.Run("PermanentDeadLettersAtOnce", func(t *testing.T) {
		e := newEnv(t)
		d := e.messages(invite.DispatcherConfig{})
		e.notes.Fail(invite.Permanent(errors.New("smtp: 550 no such user")))
		_, err := e.m.Create(e.ctx(), sendInput("nobody@example.com"))
		require.NoError(t, err)
		e.clock.Advance(afterInline)
		require.Equal(t, 1, drain(t, d))
		dead, err := e.m.DeadLetters(e.ctx(), "t1", "", 10)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		require.Equal(t, 1, dead[0].Attempts)
	})
	t.Run("RetryAfterReplacesTheBackoff", func(t *testing.T) {
		e := newEnv(t)
		d := e.messages(invite.DispatcherConfig{Backoff: func(int) time.Duration { return time.Minute }})
		e.notes.Fail(invite.RetryAfter(errors.New("429 slow down"), 2*time.Hour))
		_, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
		require.NoError(t, err)
		e.clock.Advance(afterInline)
		require.Equal(t, 1, drain(t, d))
		e.notes.Fail(nil)
		e.clock.Advance(time.Hour)
		require.Zero(t, drain(t, d), "the server asked for two hours")
		e.clock.Advance(time.Hour)
		require.Equal(t, 1, drain(t, d))
		require.Len(t, e.notes.Messages(), 1)
	})
	require.Nil(t, invite.Permanent(nil))
	require.Nil(t, invite.RetryAfter(nil, time.Second))
	base := errors.New("x")
	require.ErrorIs(t, invite.Permanent(base), base)
	require.True(t, invite.IsPermanent(errors.Join(errors.New("y"), invite.Permanent(base))))
	require.False(t, invite.IsPermanent(base))
}

func TestDeleteForgetsTheQueuedMessage(t *testing.T) {
	e := newEnv(t)
	d := e.messages(invite.DispatcherConfig{})
	e.notes.Fail(errors.New("down"))
	res, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	e.notes.Fail(nil)
	require.NoError(t, e.m.Delete(e.ctx(), "t1", res.Invitation.ID, 0))
	e.clock.Advance(afterInline)
	require.Zero(t, drain(t, d), "the deletion took the message with it")
	require.Empty(t, e.notes.Messages())
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventDeleted}, e.events.Types(),
		"the events owed to the sink stay")
}

func TestDispatcherDropsStaleMessages(t *testing.T) {
	cases := []struct {
		name   string
		change func(e *env, res *invite.Result)
	}{
		{"Accepted", func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1"})
			require.NoError(e.t, err)
		}},
		{"Revoked", func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			require.NoError(e.t, err)
		}},
		{"Expired", func(e *env, res *invite.Result) { e.clock.Advance(8 * 24 * time.Hour) }},
		{"ResentWithReturn", func(e *env, res *invite.Result) {
			_, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
			require.NoError(e.t, err)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.messages(invite.DispatcherConfig{})
			e.notes.Fail(errors.New("down"))
			res, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
			require.NoError(t, err)
			e.notes.Fail(nil)
			c.change(e, res)
			e.clock.Advance(afterInline)
			require.Equal(t, 1, drain(t, d))
			require.Empty(t, e.notes.Messages(), "nothing sent")
			s, err := d.Stats(e.ctx())
			require.NoError(t, err)
			require.Equal(t, uint64(1), s.Dropped)
			require.Contains(t, e.logs.String(), "queued message dropped")
			e.clock.Advance(100 * time.Hour)
			require.Zero(t, drain(t, d), "settled")
		})
	}
}

// txStore is memstore as a Store inside a host transaction reports itself.
type txStore struct{ *memstore.Store }

func (txStore) InHostTransaction() bool { return true }

func TestNothingIsSentInsideAHostTransaction(t *testing.T) {
	e := newEnv(t)
	d := e.messages(invite.DispatcherConfig{})
	inTx := e.m.WithStore(txStore{e.mem})
	res, err := inTx.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	require.Empty(t, e.notes.Messages(), "nothing sent before the host commits")
	require.Empty(t, res.Token.Reveal(), "the dispatcher mints the secret it sends")
	require.Empty(t, res.Link.Reveal())
	require.Equal(t, invite.StatePending, res.Invitation.State)
	_, err = inTx.NewDispatcher(invite.DispatcherConfig{})
	requireValidation(t, err, "Manager")

	// Due at once: the host has committed (memstore has no rollback; the
	// SQL stores' tests roll back for real).
	require.Equal(t, 1, drain(t, d))
	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	_, err = e.m.Accept(e.ctx(), msgs[0].Param("token"), invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent, invite.EventAccepted}, e.events.Types())
}

func TestWakeAfterAHostCommit(t *testing.T) {
	e := newEnv(t)
	got := make(chan invite.EventType, 10)
	sink := invite.EventSinkFunc(func(_ context.Context, evs []invite.Event) error {
		for _, ev := range evs {
			got <- ev.Type
		}
		return nil
	})
	m, err := invite.New(e.store, invite.Config{Now: e.clock.Now, EventSink: sink, CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)
	d, err := m.NewDispatcher(invite.DispatcherConfig{PollInterval: time.Hour})
	require.NoError(t, err)
	// A write before Run starts: Run's first round delivers it, and no
	// wake of it is left over for a later round (one left over would claim
	// the host's write below before Wake).
	_, err = m.Create(e.ctx(), input("ada@example.com"))
	require.NoError(t, err)
	ctx, stop := context.WithCancel(e.ctx())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	require.Equal(t, invite.EventCreated, <-got)

	// A write outside a transaction wakes the dispatcher itself; its round
	// has claimed by the time the sink hears of it.
	_, err = m.Create(e.ctx(), input("alan@example.com"))
	require.NoError(t, err)
	require.Equal(t, invite.EventCreated, <-got)

	// One inside a host transaction does not (the host may not have
	// committed); Wake after the commit does. The next poll is an hour away.
	_, err = m.WithStore(txStore{e.mem}).Create(e.ctx(), input("grace@example.com"))
	require.NoError(t, err)
	select {
	case typ := <-got:
		t.Fatalf("delivered before Wake: %s", typ)
	case <-time.After(50 * time.Millisecond):
	}
	m.Wake()
	select {
	case typ := <-got:
		require.Equal(t, invite.EventCreated, typ)
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not wake the dispatcher")
	}
}

// panicNotifier panics with the link of each message while panicking is
// set, and records the rest.
type panicNotifier struct {
	panicking atomic.Bool
	sent      atomic.Int32
}

func (n *panicNotifier) Notify(_ context.Context, msg invite.Message) error {
	if n.panicking.Load() {
		panic("cannot send " + msg.Vars.InviteLink.Reveal())
	}
	n.sent.Add(1)
	return nil
}

func TestDispatcherSurvivesAPanickingNotifier(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.EventSink = nil })
	notes := &panicNotifier{}
	m, err := invite.New(e.store, invite.Config{Now: e.clock.Now, Logger: e.cfg.Logger, Notifier: notes,
		CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)
	d, err := m.NewDispatcher(invite.DispatcherConfig{})
	require.NoError(t, err)
	notes.panicking.Store(true)
	// The Manager's own attempt runs in the caller's goroutine: its panic
	// is the caller's, after the write committed the queued message.
	require.Panics(t, func() { _, _ = m.Create(e.ctx(), sendInput("ada@example.com")) })

	e.clock.Advance(afterInline)
	require.Equal(t, 1, drain(t, d), "a panic is a failed attempt, not a dead dispatcher")
	st, err := d.Stats(e.ctx())
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Retried)
	require.Contains(t, e.logs.String(), "delivery panicked")
	require.Contains(t, e.logs.String(), "panic_type")
	require.NotContains(t, e.logs.String(), "cannot send", "the panic's value may hold the link")

	notes.panicking.Store(false)
	e.clock.Advance(time.Hour)
	require.Equal(t, 1, drain(t, d))
	require.Equal(t, int32(1), notes.sent.Load())
}

func TestDispatcherGivesUpOnAnEntryThatKillsItsDispatchers(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.EventSink = nil })
	e.notes.Fail(errors.New("down"))
	res, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	e.notes.Fail(nil)
	e.clock.Advance(afterInline)
	const maxAttempts = 3
	// Each claim's dispatcher dies before it settles: the lease runs out.
	for range maxAttempts {
		es, err := e.mem.ClaimOutbox(e.ctx(), "doomed", nil, managerNow(e.clock), time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, es, 1)
		e.clock.Advance(2 * time.Minute)
	}
	d := e.messages(invite.DispatcherConfig{MaxAttempts: maxAttempts})
	require.Equal(t, 1, drain(t, d))
	require.Empty(t, e.notes.Messages(), "not attempted again")
	dead, err := e.m.DeadLetters(e.ctx(), "t1", "", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, res.Invitation.ID, dead[0].InvitationID)
	require.Contains(t, dead[0].LastError, "without an outcome")

	// Re-driven, it gets its attempts again.
	_, err = e.m.Redrive(e.ctx(), "t1", dead[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, drain(t, d))
	require.Len(t, e.notes.Messages(), 1)
}

// gateNotifier fails while fail is set, and otherwise, while gate is set,
// announces each message on started and waits for the gate to open.
type gateNotifier struct {
	mu      sync.Mutex
	fail    error
	gate    chan struct{}
	started chan string
	sent    []string
}

func (n *gateNotifier) Notify(_ context.Context, msg invite.Message) error {
	n.mu.Lock()
	fail, gate := n.fail, n.gate
	n.mu.Unlock()
	if fail != nil {
		return fail
	}
	if gate != nil {
		n.started <- msg.To
		<-gate
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, msg.To)
	return nil
}

func (n *gateNotifier) set(fail error, gate chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail, n.gate = fail, gate
}

func (n *gateNotifier) delivered() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

func TestDispatcherRunWakesAndStopsCleanly(t *testing.T) {
	e := newEnv(t)
	notes := &gateNotifier{started: make(chan string, 10)}
	var events sync.WaitGroup
	sink := invite.EventSinkFunc(func(context.Context, []invite.Event) error { events.Done(); return nil })
	m, err := invite.New(e.store, invite.Config{Now: e.clock.Now, Notifier: notes, EventSink: sink,
		CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)

	// Run wakes for a write of its process (one of WithStore's Managers
	// too), not only at its poll, which is an hour away.
	d, err := m.NewDispatcher(invite.DispatcherConfig{PollInterval: time.Hour, Kinds: []invite.OutboxKind{invite.OutboxEvent}})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(e.ctx())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	events.Add(1)
	_, err = m.WithStore(e.store).Create(e.ctx(), input("ada@example.com"))
	require.NoError(t, err)
	events.Wait()
	stop()
	require.NoError(t, <-done)

	// Three messages the inline attempt could not send.
	notes.set(errors.New("down"), nil)
	events.Add(6) // their created events, and later their sent events
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		_, err := m.Create(e.ctx(), sendInput(to))
		require.NoError(t, err)
	}
	gate := make(chan struct{})
	notes.set(nil, gate)
	e.clock.Advance(afterInline)

	// Stopping mid-batch: the delivery under way finishes; the entries
	// claimed but not started are released to the next dispatcher at once,
	// not after the lease.
	first, err := m.NewDispatcher(invite.DispatcherConfig{ID: "first", Concurrency: 1, PollInterval: time.Hour,
		Kinds: []invite.OutboxKind{invite.OutboxMessage}})
	require.NoError(t, err)
	ctx, stop = context.WithCancel(e.ctx())
	go func() { done <- first.Run(ctx) }()
	<-notes.started
	stop()
	close(gate)
	require.NoError(t, <-done)
	require.Len(t, notes.delivered(), 1, "the delivery under way finished")
	fs, err := first.Stats(e.ctx())
	require.NoError(t, err)
	require.Equal(t, uint64(1), fs.Delivered)

	second, err := m.NewDispatcher(invite.DispatcherConfig{ID: "second", Kinds: []invite.OutboxKind{invite.OutboxMessage}})
	require.NoError(t, err)
	require.Equal(t, 2, drain(t, second), "released, so due at once")
	require.ElementsMatch(t, []string{"a@example.com", "b@example.com", "c@example.com"}, notes.delivered())
	es, err := m.NewDispatcher(invite.DispatcherConfig{Kinds: []invite.OutboxKind{invite.OutboxEvent}})
	require.NoError(t, err)
	drain(t, es)
	events.Wait()
}

func TestDispatcherStatsAndRetention(t *testing.T) {
	e := newEnv(t)
	d := e.messages(invite.DispatcherConfig{})
	e.notes.Fail(errors.New("down"))
	_, err := e.m.Create(e.ctx(), sendInput("ada@example.com"))
	require.NoError(t, err)
	e.clock.Advance(90 * time.Minute)
	s, err := d.Stats(e.ctx())
	require.NoError(t, err)
	require.Equal(t, 2, s.Pending, "the message and the created event")
	require.Equal(t, 90*time.Minute, s.OldestPending)
	e.events.Events()
	e.notes.Fail(nil)
	drain(t, d)
	e.events.Events()
	s, err = d.Stats(e.ctx())
	require.NoError(t, err)
	require.Zero(t, s.Pending)
	require.Zero(t, s.OldestPending)
}

func TestNewDispatcherValidates(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		cfg    invite.DispatcherConfig
		fields []string
	}{
		{invite.DispatcherConfig{Lease: -time.Second}, []string{"Lease"}},
		{invite.DispatcherConfig{Lease: time.Minute, AttemptTimeout: time.Minute}, []string{"AttemptTimeout"}},
		{invite.DispatcherConfig{BatchSize: -1, Concurrency: 2000, MaxAttempts: -3}, []string{"BatchSize", "Concurrency", "MaxAttempts"}},
		{invite.DispatcherConfig{Kinds: []invite.OutboxKind{"sms"}}, []string{"Kinds[0]"}},
		{invite.DispatcherConfig{ID: "bad\x00id", PollInterval: -1}, []string{"ID", "PollInterval"}},
	} {
		_, err := e.m.NewDispatcher(c.cfg)
		requireValidation(t, err, c.fields...)
	}
	bare, err := invite.New(memstore.New(), invite.Config{})
	require.NoError(t, err)
	_, err = bare.NewDispatcher(invite.DispatcherConfig{})
	requireValidation(t, err, "Kinds")
	_, err = bare.NewDispatcher(invite.DispatcherConfig{Kinds: []invite.OutboxKind{invite.OutboxEvent}})
	requireValidation(t, err, "Kinds[0]")

	// A store without an outbox has no dispatcher and no dead letters.
	plain, err := invite.New(plainStore{memstore.New()}, invite.Config{Notifier: e.notes})
	require.NoError(t, err)
	_, err = plain.NewDispatcher(invite.DispatcherConfig{})
	require.ErrorIs(t, err, invite.ErrNoOutbox)
	_, err = plain.DeadLetters(e.ctx(), "t1", "", 10)
	require.ErrorIs(t, err, invite.ErrNoOutbox)
	_, err = plain.Redrive(e.ctx(), "t1", "x")
	require.ErrorIs(t, err, invite.ErrNoOutbox)

	_, err = e.m.DeadLetters(e.ctx(), "", "", 0)
	requireValidation(t, err, "TenantID", "Limit")
	_, err = e.m.Redrive(e.ctx(), "t1", "")
	requireValidation(t, err, "IDs[0]")
	// An entry id is at most 255 bytes, as every Outbox takes it: 200
	// characters of two bytes each pass MaxIDLen but not that.
	long := strings.Repeat("é", 200)
	_, err = e.m.Redrive(e.ctx(), "t1", "ok", long)
	requireValidation(t, err, "IDs[1]")
	_, err = e.m.DeadLetters(e.ctx(), "t1", long, 10)
	requireValidation(t, err, "After")
	n, err := e.m.Redrive(e.ctx(), "t1", strings.Repeat("a", 255))
	require.NoError(t, err, "255 bytes")
	require.Zero(t, n)
}

// plainStore is a Store without the Outbox ability.
type plainStore struct{ invite.Store }

func TestStoreWithoutOutboxDeliversInline(t *testing.T) {
	notes := &invitetest.Notifier{}
	log := &invitetest.EventLog{}
	m, err := invite.New(plainStore{memstore.New()}, invite.Config{Notifier: notes, EventSink: log})
	require.NoError(t, err)
	res, err := m.Create(t.Context(), sendInput("ada@example.com"))
	require.NoError(t, err)
	require.NoError(t, res.DeliveryErr)
	require.Len(t, notes.Messages(), 1)
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent}, log.Types(), "published right after each write")
}

// plainTxStore is a Store inside a host transaction without the Outbox
// ability.
type plainTxStore struct{ invite.Store }

func (plainTxStore) InHostTransaction() bool { return true }

func TestHostTransactionWithoutOutbox(t *testing.T) {
	t.Run("Send", func(t *testing.T) {
		notes := &invitetest.Notifier{}
		mem := memstore.New()
		m, err := invite.New(plainStore{mem}, invite.Config{Notifier: notes})
		require.NoError(t, err)
		inTx := m.WithStore(plainTxStore{mem})
		res, err := inTx.Create(t.Context(), sendInput("ada@example.com"))
		require.NoError(t, err)
		require.Empty(t, notes.Messages(), "nothing sent before the host commits")
		require.ErrorIs(t, res.DeliveryErr, invite.ErrDelivery)
		require.ErrorIs(t, res.DeliveryErr, invite.ErrNoOutbox)
		require.Equal(t, invite.StatePending, res.Invitation.State)
		require.NotEmpty(t, res.Token.Reveal(), "the caller holds the secret to deliver after the commit")
		_, err = m.Lookup(t.Context(), res.Token.Reveal())
		require.NoError(t, err)

		again, err := inTx.Resend(t.Context(), "t1", res.Invitation.ID, invite.ResendOptions{})
		require.NoError(t, err)
		require.Empty(t, notes.Messages())
		require.ErrorIs(t, again.DeliveryErr, invite.ErrNoOutbox)
		require.NotEmpty(t, again.Token.Reveal())

		// Outside the transaction the same Manager sends inline.
		res, err = m.Create(t.Context(), sendInput("grace@example.com"))
		require.NoError(t, err)
		require.NoError(t, res.DeliveryErr)
		require.Len(t, notes.Messages(), 1)
	})
	t.Run("Events", func(t *testing.T) {
		log := &invitetest.EventLog{}
		mem := memstore.New()
		m, err := invite.New(plainStore{mem}, invite.Config{EventSink: log})
		require.NoError(t, err)
		inTx := m.WithStore(plainTxStore{mem})
		_, err = inTx.Create(t.Context(), input("ada@example.com"))
		require.ErrorIs(t, err, invite.ErrNoOutbox)
		require.Empty(t, log.Types(), "nothing published before the host commits")
		n, err := mem.Count(t.Context(), "t1", invite.Filter{}, time.Now())
		require.NoError(t, err)
		require.Zero(t, n, "nothing written")
	})
}

func TestReturnQueuesNoMessage(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	require.NotEmpty(t, res.Token.Reveal())
	_, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	e.clock.Advance(100 * time.Hour)
	claimed, err := e.mem.ClaimOutbox(e.ctx(), "probe", []invite.OutboxKind{invite.OutboxMessage}, e.clock.Now(), time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "the caller holds the secret: nothing is queued to send")
	require.Empty(t, e.notes.Messages())
}

func TestEventsCarryTheVersion(t *testing.T) {
	e := newEnv(t)
	res := e.create(sendInput("ada@example.com"))
	_, err := e.m.Accept(e.ctx(), e.notes.Messages()[0].Param("token"), invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	evs := e.events.Events()
	require.Len(t, evs, 3)
	for i, ev := range evs {
		require.Equal(t, int64(i+1), ev.Version, ev.Type)
		require.Equal(t, ev.New.Version, ev.Version)
		require.Equal(t, res.Invitation.ID, ev.InvitationID)
	}
}
