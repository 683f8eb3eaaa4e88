package deliverytest

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

// linkTemplate makes links whose token a test can read back.
const linkTemplate = "https://app.example/invite?token={{.Token}}"

// tenant is the tenant every proof works in.
const tenant = "acme"

// quiet is a logger that discards everything: the proofs make thousands
// of failures on purpose.
var quiet = slog.New(slog.DiscardHandler)

// config returns a Manager config for the proofs: fast code hashing, a
// link template, no logs; the given notifier and sink (either may be nil)
// and clock (nil: the real one).
func config(n invite.Notifier, sink invite.EventSink, now func() time.Time) invite.Config {
	cfg := invite.Config{LinkTemplate: linkTemplate, CodeHashParams: invitetest.FastCodeHash, Logger: quiet, Now: now}
	if n != nil {
		cfg.Notifier = n
	}
	if sink != nil {
		cfg.EventSink = sink
	}
	return cfg
}

// errTransport is the failure the flaky notifier and sink report.
var errTransport = errors.New("transport unavailable")

// sent is one message a notifier was given.
type sent struct {
	Msg   invite.Message
	Token string
	// Acked is true when Notify returned nil.
	Acked bool
}

// flakyNotifier records every message and fails a share of the calls at
// random: half of its failures come before the message went anywhere,
// half after it was handed over (a lost acknowledgement, so the message
// arrives twice).
type flakyNotifier struct {
	failRate float64
	mu       sync.Mutex
	msgs     []sent
}

func (n *flakyNotifier) Notify(_ context.Context, msg invite.Message) error {
	fail := rand.Float64() < n.failRate
	if fail && rand.IntN(2) == 0 {
		return errTransport
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, sent{Msg: msg, Token: token(msg), Acked: !fail})
	if fail {
		return errTransport
	}
	return nil
}

func (n *flakyNotifier) sent() []sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sent(nil), n.msgs...)
}

// token returns the token of msg's link.
func token(msg invite.Message) string {
	const marker = "token="
	link := msg.Vars.InviteLink.Reveal()
	for i := 0; i+len(marker) <= len(link); i++ {
		if link[i:i+len(marker)] == marker {
			return link[i+len(marker):]
		}
	}
	return ""
}

// published is one event a sink was given.
type published struct {
	Event invite.Event
	Acked bool
}

// flakySink records every event and fails a share of the calls at random,
// like flakyNotifier.
type flakySink struct {
	failRate float64
	mu       sync.Mutex
	events   []published
}

func (s *flakySink) Publish(_ context.Context, evs []invite.Event) error {
	fail := rand.Float64() < s.failRate
	if fail && rand.IntN(2) == 0 {
		return errTransport
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.events = append(s.events, published{Event: e, Acked: !fail})
	}
	if fail {
		return errTransport
	}
	return nil
}

func (s *flakySink) published() []published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]published(nil), s.events...)
}

// committed records what each successful Apply queued: the proofs' ground
// truth of the events and messages owed.
type committed struct {
	mu       sync.Mutex
	events   map[string]invite.Event
	messages map[string]invite.QueuedMessage
}

// recordingStore is a Store with an Outbox that records what its
// successful Applies queued in c.
type recordingStore struct {
	invite.Store
	invite.Outbox
	c *committed
}

func newRecordingStore(st invite.Store) *recordingStore {
	return &recordingStore{Store: st, Outbox: st.(invite.Outbox),
		c: &committed{events: map[string]invite.Event{}, messages: map[string]invite.QueuedMessage{}}}
}

func (s *recordingStore) Apply(ctx context.Context, b *invite.Batch) error {
	if err := s.Store.Apply(ctx, b); err != nil {
		return err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, e := range b.Events {
		s.c.events[e.ID] = e
	}
	for _, m := range b.Messages {
		s.c.messages[m.ID] = m
	}
	return nil
}
