// Package invitetest helps hosts test code that uses invite: a settable
// clock, a Notifier that records every message with its link and code in
// plaintext (so a test can follow the link as the invitee would), an
// EventSink that records every event, and NewManager, which wires them to a
// Manager on a fresh in-memory store.
//
//	func TestInviteFlow(t *testing.T) {
//		h := invitetest.NewManager(t, invite.Config{
//			LinkTemplate: "https://app.example/invite?token={{.Token}}",
//		})
//		_, err := h.Create(t.Context(), invite.CreateInput{
//			TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"},
//		})
//		require.NoError(t, err)
//		msg, _ := h.Notifier.Last("ada@example.com")
//		_, err = h.Accept(t.Context(), msg.Param("token"), invite.AcceptInput{Subject: "u1"})
//		require.NoError(t, err)
//		h.Clock.Advance(8 * 24 * time.Hour) // past the default expiry
//	}
//
// Everything here is safe for concurrent use. The recorded secrets are real
// plaintext: keep these helpers in tests.
package invitetest

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// FastCodeHash are argon2id parameters for short codes that hash in well
// under a millisecond. Never use them in production.
var FastCodeHash = invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Clock is a settable clock; pass its Now as Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d (backwards for a negative d).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Delivered is one message a Notifier received, with its secrets in
// plaintext.
type Delivered struct {
	invite.Message
	// Link is the invitation link (Vars.InviteLink revealed).
	Link string
	// Code is the short code (Vars.Code revealed), when there is one.
	Code string
}

// Param returns the value of the link's query parameter name ("" when the
// link has none): Param("token") is the token a link made by
// "https://app.example/invite?token={{.Token}}" carries.
func (d Delivered) Param(name string) string {
	u, err := url.Parse(d.Link)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

// Notifier is an invite.Notifier that records every message it is given.
// After Fail(err), Notify returns err and records nothing, as a failing
// transport would.
type Notifier struct {
	mu   sync.Mutex
	msgs []Delivered
	fail error
}

// Notify records msg, or returns the error set by Fail.
func (n *Notifier) Notify(_ context.Context, msg invite.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail != nil {
		return n.fail
	}
	n.msgs = append(n.msgs, Delivered{Message: msg, Link: msg.Vars.InviteLink.Reveal(), Code: msg.Vars.Code.Reveal()})
	return nil
}

// Fail makes every later Notify return err; Fail(nil) restores delivery.
func (n *Notifier) Fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail = err
}

// Messages returns the recorded messages, oldest first.
func (n *Notifier) Messages() []Delivered {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// Last returns the newest message to the address to (Message.To), and
// whether there is one.
func (n *Notifier) Last(to string) (Delivered, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.msgs) - 1; i >= 0; i-- {
		if n.msgs[i].To == to {
			return n.msgs[i], true
		}
	}
	return Delivered{}, false
}

// Reset forgets the recorded messages.
func (n *Notifier) Reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = nil
}

// EventLog is an invite.EventSink that keeps deep copies of the events it
// is given. After Fail(err), Publish records the events and returns err.
//
// The EventLog of a Harness first delivers the events waiting in the
// outbox (see Harness) whenever it is read, so that a test sees every
// event of the calls it made.
type EventLog struct {
	mu     sync.Mutex
	events []invite.Event
	fail   error
	// drain, when set, delivers the events waiting in an outbox into the
	// log; it runs before every read.
	drain func()
}

func (l *EventLog) sync() {
	if l.drain != nil {
		l.drain()
	}
}

// Publish records evs.
func (l *EventLog) Publish(_ context.Context, evs []invite.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.events = append(l.events, deepCopy(e))
	}
	return l.fail
}

// deepCopy copies e with its snapshots.
func deepCopy(e invite.Event) invite.Event {
	if e.Old != nil {
		e.Old = e.Old.Clone()
	}
	if e.New != nil {
		e.New = e.New.Clone()
	}
	return e
}

// Fail makes every later Publish return err (after recording); Fail(nil)
// restores success.
func (l *EventLog) Fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

// Events returns copies of the recorded events, oldest first.
func (l *EventLog) Events() []invite.Event {
	l.sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]invite.Event, len(l.events))
	for i, e := range l.events {
		out[i] = deepCopy(e)
	}
	return out
}

// Types returns the types of the recorded events, oldest first.
func (l *EventLog) Types() []invite.EventType {
	var out []invite.EventType
	for _, e := range l.Events() {
		out = append(out, e.Type)
	}
	return out
}

// Reset forgets the recorded events (after delivering those waiting).
func (l *EventLog) Reset() {
	l.sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = nil
}

// Buffer is a log destination safe for concurrent writers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Harness is a Manager on a fresh in-memory store with the recorders
// NewManager wired into it. Its methods are the Manager's.
//
// memstore queues events and messages in its outbox, as the SQL stores do.
// Events reach Events (the EventLog) whenever the test reads it. Messages
// are sent right after the call that minted them; those the Notifier
// refused wait for Dispatcher (Drain it after advancing the Clock past the
// retry).
type Harness struct {
	*invite.Manager
	// Dispatcher delivers the outbox (messages and events) when the test
	// calls its Drain (or runs it).
	Dispatcher *invite.Dispatcher
	Store      *memstore.Store
	Clock      *Clock
	Notifier   *Notifier
	Events     *EventLog
	// Logs holds the Manager's log lines (JSON, debug level and up).
	Logs *Buffer
	// Config is the Config the Manager was built with.
	Config invite.Config
}

// TB is the part of testing.TB that NewManager uses; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Start is the Clock's first reading in NewManager: a fixed instant, so
// that tests are repeatable.
var Start = time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)

// NewManager returns a Harness: a Manager on a fresh memstore whose Config is
// cfg with every one of these fields that cfg leaves zero filled in: Now
// (a Clock at Start), Notifier (a recording Notifier), EventSink (an
// EventLog), Logger (JSON lines into Logs) and CodeHashParams
// (FastCodeHash).
// Fields cfg sets are kept; the matching Harness field is then nil. A
// Config that New refuses fails the test.
func NewManager(tb TB, cfg invite.Config) *Harness {
	tb.Helper()
	h := &Harness{Store: memstore.New()}
	if cfg.Now == nil {
		h.Clock = NewClock(Start)
		cfg.Now = h.Clock.Now
	}
	if cfg.Notifier == nil {
		h.Notifier = &Notifier{}
		cfg.Notifier = h.Notifier
	}
	if cfg.EventSink == nil {
		h.Events = &EventLog{}
		cfg.EventSink = h.Events
	}
	if cfg.Logger == nil {
		h.Logs = &Buffer{}
		cfg.Logger = slog.New(slog.NewJSONHandler(h.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.CodeHashParams == (invite.CodeHashParams{}) {
		cfg.CodeHashParams = FastCodeHash
	}
	m, err := invite.New(h.Store, cfg)
	if err != nil {
		tb.Fatalf("invitetest: invite.New: %v", err)
		return h
	}
	h.Manager, h.Config = m, cfg
	if h.Dispatcher, err = m.NewDispatcher(invite.DispatcherConfig{Concurrency: 1}); err != nil {
		tb.Fatalf("invitetest: NewDispatcher: %v", err)
	}
	if h.Events != nil {
		// One at a time, so that the log holds them in the order written.
		events, err := m.NewDispatcher(invite.DispatcherConfig{Kinds: []invite.OutboxKind{invite.OutboxEvent}, Concurrency: 1})
		if err != nil {
			tb.Fatalf("invitetest: NewDispatcher: %v", err)
		}
		h.Events.drain = func() {
			if _, err := events.Drain(context.Background()); err != nil {
				tb.Fatalf("invitetest: delivering events: %v", err)
			}
		}
	}
	return h
}
