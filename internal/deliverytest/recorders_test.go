package deliverytest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// errRefused is the failure of a notifier that refuses every message.
var errRefused = errors.New("refusing every inline attempt")

// queueMessages creates n invitations (send mode) in st with Manager.Create
// from a few goroutines at once, through a Manager whose notifier refuses
// every inline attempt: each invitation's message stays queued for a
// dispatcher (with the short InlineDeliveryTimeout, due 2 ms after its
// write). It returns the queued messages by id.
func queueMessages(t *testing.T, st invite.Store, n int) map[string]invite.QueuedMessage {
	t.Helper()
	rs := newRecordingStore(st)
	cfg := config(invite.NotifierFunc(func(context.Context, invite.Message) error { return errRefused }), nil, nil)
	cfg.InlineDeliveryTimeout = time.Millisecond
	m, err := invite.New(rs, cfg)
	require.NoError(t, err)
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				res, err := m.Create(t.Context(), invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: email("queued")}})
				if !assert.NoError(t, err, "Create") {
					return
				}
				assert.ErrorIs(t, res.DeliveryErr, errRefused, "the inline attempt")
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	rs.c.mu.Lock()
	defer rs.c.mu.Unlock()
	require.Len(t, rs.c.messages, n, "messages queued")
	return maps.Clone(rs.c.messages)
}

// handover is one message that went out: its Notify call handed it to the
// transport, whatever the call then returned.
type handover struct {
	invitationID, messageID, token string
}

// checkHandovers checks the messages that went out, hs in the order they
// did, against the messages queued (by id): each carries the id of the
// message queued for its invitation, so a duplicate carries the id already
// seen; every queued message went out; the token of each invitation's
// newest message works (Manager.Lookup finds its invitation) and every
// older one fails with ErrInvalidToken, unless keep
// (Config.KeepPreviousTokens, which m must match), when it works too. It
// returns how many messages went out more than once.
func checkHandovers(t *testing.T, m *invite.Manager, queued map[string]invite.QueuedMessage, hs []handover, keep bool) (dups int) {
	t.Helper()
	tokens := map[string][]string{} // invitation id -> tokens, oldest first
	for _, h := range hs {
		q, ok := queued[h.messageID]
		require.True(t, ok, "message %s of invitation %s went out but was never queued", h.messageID, h.invitationID)
		require.Equal(t, q.InvitationID, h.invitationID, "message %s went out for another invitation", h.messageID)
		require.NotEmpty(t, h.token, "message %s carries no token", h.messageID)
		tokens[h.invitationID] = append(tokens[h.invitationID], h.token)
	}
	for _, q := range queued {
		require.NotEmpty(t, tokens[q.InvitationID], "message %s of invitation %s never went out", q.ID, q.InvitationID)
		if len(tokens[q.InvitationID]) > 1 {
			dups++
		}
	}

	// Look the tokens up from a few goroutines at once.
	type lookup struct {
		invitationID, token string
		newest              bool
	}
	work := make(chan lookup)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for lk := range work {
				inv, err := m.Lookup(t.Context(), lk.token)
				var failure string
				switch {
				case (lk.newest || keep) && err != nil:
					failure = fmt.Sprintf("invitation %s: the token of a message that went out (newest: %t) fails: %v", lk.invitationID, lk.newest, err)
				case (lk.newest || keep) && inv.ID != lk.invitationID:
					failure = fmt.Sprintf("invitation %s: the token finds invitation %s", lk.invitationID, inv.ID)
				case !lk.newest && !keep && !errors.Is(err, invite.ErrInvalidToken):
					failure = fmt.Sprintf("invitation %s: the token of an older message does not fail with ErrInvalidToken: %v", lk.invitationID, err)
				}
				if failure != "" {
					mu.Lock()
					failures = append(failures, failure)
					mu.Unlock()
				}
			}
		})
	}
	for id, ts := range tokens {
		for i, tok := range ts {
			work <- lookup{invitationID: id, token: tok, newest: i == len(ts)-1}
		}
	}
	close(work)
	wg.Wait()
	require.Empty(t, failures[:min(len(failures), 5)], "%d of the tokens that went out (the first five shown)", len(failures))
	return dups
}
