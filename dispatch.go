package invite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// ErrNoOutbox is returned by the Manager's dead-letter methods and by
// NewDispatcher when the Manager's Store does not implement Outbox.
var ErrNoOutbox = errors.New("invite: the store has no outbox")

// DispatcherConfig configures a Dispatcher. Every field is optional; the
// comment on each gives its default.
type DispatcherConfig struct {
	// ID names the dispatcher as the owner of its claims: unique per
	// dispatcher. Default: "dispatcher-" and a random UUID.
	ID string
	// Kinds are the kinds of entry it delivers. Default: messages when the
	// Manager has a Notifier, events when it has an EventSink.
	Kinds []OutboxKind
	// PollInterval is how often it looks for due entries when nothing woke
	// it: entries queued by another process (or inside a host transaction),
	// and retries coming due. Default: 1 second.
	PollInterval time.Duration
	// Lease is how long a claim holds: an entry whose dispatcher died is
	// delivered by another one after it. Default: 5 minutes.
	Lease time.Duration
	// AttemptTimeout bounds one attempt (a Notify or a Publish); it must be
	// shorter than Lease. Default: 1 minute.
	AttemptTimeout time.Duration
	// BatchSize is how many entries one claim takes. Default: 100.
	BatchSize int
	// Concurrency is how many deliveries run at once. Default: 16.
	Concurrency int
	// MaxAttempts is how many attempts an entry gets before it is
	// dead-lettered. Every claim counts as one, so an entry whose
	// dispatchers keep dying or hanging while they deliver it is
	// dead-lettered too, unattempted, once claimed more often. Default: 10.
	MaxAttempts int
	// Backoff returns the pause after the given failed attempt (1 for the
	// first). Default: DefaultBackoff (10 attempts span about a day).
	Backoff func(attempt int) time.Duration
	// Retention is how long delivered entries are kept before the
	// dispatcher deletes them (they hold the invitee's data). Default: 7
	// days. Negative: kept until the host deletes them.
	Retention time.Duration
}

// DefaultBackoff waits 3 minutes after the first failed attempt and twice
// as long after each next one, up to 8 hours, each pause varied by up to a
// quarter either way so that retries of one outage spread out: 10 attempts
// span about 21 hours.
func DefaultBackoff(attempt int) time.Duration {
	d := 3 * time.Minute << min(max(attempt-1, 0), 20)
	d = min(d, 8*time.Hour)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// Dispatcher delivers what the Manager's writes queued in the Store's
// outbox: messages through Config.Notifier, events through
// Config.EventSink, at least once. Run one per process (from every
// replica, if you like): claims with leases keep two dispatchers from
// delivering one entry at the same time.
//
// A message whose secret the Manager could not deliver right after its
// write (the Notifier failed, the process died, or the write ran inside a
// host transaction) is sent with a fresh secret: the dispatcher mints one,
// commits its hash (the expiry stays), sends it and marks the invitation
// sent. The invitee's new link works; an earlier one that did arrive works
// only with Config.KeepPreviousTokens. A message whose invitation was
// accepted, rejected, revoked, deleted, re-sent or has expired since it was
// queued is dropped, not sent. Every attempt carries the same Message.ID.
//
// A failed attempt is retried after Backoff; after MaxAttempts, or at once
// for an error marked Permanent, the entry is dead-lettered:
// Manager.DeadLetters lists them, Manager.Redrive queues them again. A
// Notifier or EventSink that panics fails its attempt; the dispatcher goes
// on. (The Manager's own attempt right after a write runs in the caller's
// goroutine, and its panic is the caller's, with the message still queued.)
type Dispatcher struct {
	m     *Manager
	ob    Outbox
	cfg   DispatcherConfig
	wake  chan struct{}
	stats struct{ delivered, dropped, retried, dead atomic.Uint64 }
}

// NewDispatcher returns a Dispatcher for m's store, which must implement
// Outbox (else ErrNoOutbox). It validates cfg (a *ValidationError naming
// the bad fields) and fills its defaults.
func (m *Manager) NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if m.outbox == nil {
		return nil, ErrNoOutbox
	}
	var fe fieldErrs
	if m.hostTx {
		fe.add("Manager", "works inside a host transaction: give NewDispatcher a Manager on the Store itself")
	}
	if cfg.ID == "" {
		cfg.ID = "dispatcher-" + uuid.NewString()
	}
	fe.checkText("ID", cfg.ID, MaxIDLen, true)
	if cfg.Kinds == nil {
		if m.cfg.Notifier != nil {
			cfg.Kinds = append(cfg.Kinds, OutboxMessage)
		}
		if m.cfg.EventSink != nil {
			cfg.Kinds = append(cfg.Kinds, OutboxEvent)
		}
		if cfg.Kinds == nil {
			fe.add("Kinds", "nothing to deliver: the Manager has no Notifier and no EventSink")
		}
	}
	for i, k := range cfg.Kinds {
		switch {
		case !k.Valid():
			fe.add("Kinds["+itoa(i)+"]", "is not an outbox kind")
		case k == OutboxMessage && m.cfg.Notifier == nil:
			fe.add("Kinds["+itoa(i)+"]", "messages need a Notifier in the Manager's Config")
		case k == OutboxEvent && m.cfg.EventSink == nil:
			fe.add("Kinds["+itoa(i)+"]", "events need an EventSink in the Manager's Config")
		}
	}
	def := func(d *time.Duration, v time.Duration, field string) {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			fe.add(field, "must be positive")
		}
	}
	def(&cfg.PollInterval, time.Second, "PollInterval")
	def(&cfg.Lease, 5*time.Minute, "Lease")
	def(&cfg.AttemptTimeout, time.Minute, "AttemptTimeout")
	if cfg.AttemptTimeout >= cfg.Lease {
		fe.add("AttemptTimeout", "must be shorter than Lease")
	}
	defInt := func(n *int, v, limit int, field string) {
		if *n == 0 {
			*n = v
		}
		if *n < 1 || *n > limit {
			fe.add(field, "must be 1 to "+itoa(limit))
		}
	}
	defInt(&cfg.BatchSize, 100, 10_000, "BatchSize")
	defInt(&cfg.Concurrency, 16, 1024, "Concurrency")
	defInt(&cfg.MaxAttempts, 10, 1000, "MaxAttempts")
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Retention == 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return &Dispatcher{m: m, ob: m.outbox, cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// ID returns the dispatcher's owner id.
func (d *Dispatcher) ID() string { return d.cfg.ID }

// purgeEvery is how often Run deletes delivered entries past Retention.
const purgeEvery = time.Hour

// Run delivers due entries until ctx ends, then returns nil. It wakes at
// once when a Manager of this process (the one NewDispatcher was called
// on, or one WithStore derived from it) queues an entry, and every
// PollInterval otherwise. When ctx ends, the deliveries under way finish
// (each within AttemptTimeout) and the entries claimed but not started are
// released for the next dispatcher. A failing store is logged and retried
// at the next poll; Run returns an error only for a bad configuration.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.m.wake.add(d.wake)
	defer d.m.wake.remove(d.wake)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPurge time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
		if d.cfg.Retention > 0 && time.Since(lastPurge) >= purgeEvery {
			lastPurge = time.Now()
			d.purge(ctx)
		}
		for {
			n, err := d.round(ctx)
			if err != nil && ctx.Err() == nil {
				d.m.cfg.Logger.WarnContext(ctx, "invite: dispatcher: claiming failed", "dispatcher", d.cfg.ID, "error", err)
			}
			if err != nil || n < d.cfg.BatchSize || ctx.Err() != nil {
				break // else more may be due at once
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d.cfg.PollInterval)
	}
}

// Drain delivers every entry that is due now, round after round, until a
// claim finds none, and returns how many entries it settled (delivered,
// dropped, retried or dead-lettered). Entries that fail come due later, so
// Drain ends. It is Run without the waiting: for tests, and for hosts that
// deliver from a scheduled job instead of a long-running goroutine.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := d.round(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// purge deletes delivered entries past the retention.
func (d *Dispatcher) purge(ctx context.Context) {
	before := d.m.now().Add(-d.cfg.Retention)
	for ctx.Err() == nil {
		n, err := d.ob.PurgeOutbox(ctx, before, 1000)
		if err != nil {
			d.m.cfg.Logger.WarnContext(ctx, "invite: dispatcher: purging delivered entries failed", "dispatcher", d.cfg.ID, "error", err)
			return
		}
		if n < 1000 {
			return
		}
	}
}

// round claims one batch, delivers it and settles it. It returns how many
// entries it claimed.
func (d *Dispatcher) round(ctx context.Context) (int, error) {
	es, err := d.ob.ClaimOutbox(ctx, d.cfg.ID, d.cfg.Kinds, d.m.now(), d.cfg.Lease, d.cfg.BatchSize)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	// Deliveries under way finish when ctx ends (each within
	// AttemptTimeout); the ones not started are released.
	work := context.WithoutCancel(ctx)
	out := make([]Settlement, len(es))
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, e := range es {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			out[i] = Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Release, At: d.m.now()}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = d.attempt(work, e)
		})
	}
	wg.Wait()
	settle := out[:0]
	for _, s := range out {
		if s.Outcome != 0 {
			settle = append(settle, s)
		}
	}
	if len(settle) > 0 {
		if _, err := d.ob.SettleOutbox(work, d.cfg.ID, d.m.now(), settle); err != nil {
			// The claims run out and the entries are delivered again.
			d.m.cfg.Logger.WarnContext(ctx, "invite: dispatcher: settling failed", "dispatcher", d.cfg.ID,
				"entries", len(settle), "error", err)
		}
	}
	return len(es), nil
}

// attempt makes one attempt at e, as deliver, unless e has been claimed
// more than MaxAttempts times without a settlement: each of those claims'
// dispatchers died or hung while delivering it, and an entry that takes
// its dispatcher down must not do so forever, so it is dead-lettered
// unattempted. A panic in the Notifier or EventSink is a failed attempt,
// logged with its stack but not its value (which may hold the message).
func (d *Dispatcher) attempt(ctx context.Context, e *OutboxEntry) (s Settlement) {
	if e.Attempts > d.cfg.MaxAttempts {
		return d.failed(ctx, e, Permanent(fmt.Errorf("claimed %d times without an outcome: its dispatchers died or hung while delivering it", e.Attempts)))
	}
	defer func() {
		if v := recover(); v != nil {
			d.m.cfg.Logger.ErrorContext(ctx, "invite: dispatcher: delivery panicked", "dispatcher", d.cfg.ID,
				"entry_id", e.ID, "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			s = d.failed(ctx, e, fmt.Errorf("the %s panicked (%T)", map[OutboxKind]string{OutboxEvent: "event sink", OutboxMessage: "notifier"}[e.Kind], v))
		}
	}()
	return d.deliver(ctx, e)
}

// deliver makes one attempt at e and returns its settlement; a zero
// Settlement when the write recording the delivery settled it already.
func (d *Dispatcher) deliver(ctx context.Context, e *OutboxEntry) Settlement {
	actx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	defer cancel()
	var err error
	switch e.Kind {
	case OutboxEvent:
		if e.Event == nil {
			err = Permanent(errors.New("the entry holds no event"))
			break
		}
		err = d.m.cfg.EventSink.Publish(actx, []Event{*e.Event})
	case OutboxMessage:
		var s Settlement
		if s, err = d.m.sendQueued(actx, e); err == nil {
			if s.Outcome == Delivered && s.Error != "" {
				d.stats.dropped.Add(1)
				d.m.cfg.Logger.InfoContext(ctx, "invite: queued message dropped", "entry_id", e.ID,
					"tenant_id", e.TenantID, "invitation_id", e.InvitationID, "reason", s.Error)
			} else {
				d.stats.delivered.Add(1)
			}
			return s
		}
	default:
		err = Permanent(fmt.Errorf("unknown entry kind %q", e.Kind))
	}
	if err == nil {
		d.stats.delivered.Add(1)
		return Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Delivered}
	}
	return d.failed(ctx, e, err)
}

// failed settles a failed attempt: a retry after the backoff (or the
// error's RetryAfter), or a dead letter after MaxAttempts or a permanent
// error.
func (d *Dispatcher) failed(ctx context.Context, e *OutboxEntry, err error) Settlement {
	msg := errorText(err)
	log := []any{"dispatcher", d.cfg.ID, "entry_id", e.ID, "kind", string(e.Kind), "tenant_id", e.TenantID,
		"invitation_id", e.InvitationID, "attempt", e.Attempts, "error", msg}
	if IsPermanent(err) || e.Attempts >= d.cfg.MaxAttempts {
		d.stats.dead.Add(1)
		d.m.cfg.Logger.ErrorContext(ctx, "invite: delivery dead-lettered", log...)
		return Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Dead, Error: msg}
	}
	wait := d.cfg.Backoff(e.Attempts)
	if ra, ok := retryAfter(err); ok {
		wait = ra
	}
	d.stats.retried.Add(1)
	d.m.cfg.Logger.WarnContext(ctx, "invite: delivery failed, will retry", append(log, "retry_in", wait.String())...)
	return Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Retry, At: d.m.now().Add(wait), Error: msg}
}

// maxErrorLen bounds the error text kept with an entry.
const maxErrorLen = 1000

// errorText is err's text as an entry keeps it: valid UTF-8, no NUL, at
// most maxErrorLen bytes.
func errorText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "")
	}
	return s
}

// DispatcherStats are a Dispatcher's counters (since it was made) and the
// outbox's backlog (across tenants).
type DispatcherStats struct {
	// Delivered counts entries delivered; Dropped those dropped because
	// their invitation no longer wanted them; Retried failed attempts that
	// will be retried; DeadLettered entries given up.
	Delivered, Dropped, Retried, DeadLettered uint64
	// Pending and Dead count the outbox's entries waiting for delivery and
	// dead-lettered.
	Pending, Dead int
	// OldestPending is the age of the oldest entry waiting (zero when none
	// is): the number to alert on.
	OldestPending time.Duration
}

// Stats returns the dispatcher's counters and the outbox's backlog.
func (d *Dispatcher) Stats(ctx context.Context) (DispatcherStats, error) {
	s := DispatcherStats{Delivered: d.stats.delivered.Load(), Dropped: d.stats.dropped.Load(),
		Retried: d.stats.retried.Load(), DeadLettered: d.stats.dead.Load()}
	os, err := d.ob.OutboxStats(ctx)
	if err != nil {
		return s, err
	}
	s.Pending, s.Dead = os.Pending, os.Dead
	if !os.OldestPending.IsZero() {
		s.OldestPending = max(0, d.m.now().Sub(os.OldestPending))
	}
	return s, nil
}

// sendQueued delivers the queued message e: it mints a fresh secret for
// the invitation (a guarded write that keeps the expiry), sends it, and
// marks the invitation sent, settling e in the same write. It returns e's
// settlement (zero when that write settled it; Delivered with the reason
// in Error when the message was dropped), or the error of a failed
// attempt.
func (m *Manager) sendQueued(ctx context.Context, e *OutboxEntry) (Settlement, error) {
	q := e.Message
	if q == nil {
		return Settlement{}, Permanent(errors.New("the entry holds no message"))
	}
	drop := func(reason string) (Settlement, error) {
		return Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Delivered, Error: "not sent: " + reason}, nil
	}
	var dropped string
	rec, c, err := m.mutate(ctx, m.byID(e.TenantID, e.InvitationID), func(cur *Record, now time.Time) (change, error) {
		inv := &cur.Invitation
		switch st := inv.StateAt(now); {
		case !st.Open():
			dropped = "the invitation is " + string(st)
			return change{}, nil
		case inv.ResendCount != q.ResendCount:
			dropped = "the invitation was re-sent since"
			return change{}, nil
		}
		if ch, _ := ChannelFor(inv.Invitee); ch == "" {
			return change{}, Permanent(ErrNoDeliveryChannel)
		}
		next := cur.shallow()
		s := &secrets{}
		var err error
		if s.token, s.code, err = m.mint(next, inv.HasCode); err != nil {
			return change{}, err
		}
		if m.cfg.KeepPreviousTokens {
			next.Credentials.PreviousTokens = keptTokens(cur, now)
		}
		if s.link, err = m.buildLink(&next.Invitation, s.token, s.code); err != nil {
			return change{}, Permanent(err)
		}
		return change{next: next, secrets: s}, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return drop("the invitation was deleted")
	case err != nil:
		return Settlement{}, err
	case dropped != "":
		return drop(dropped)
	}
	s := c.secrets
	if err := m.cfg.Notifier.Notify(ctx, message(&rec.Invitation, e.ID, q.Resend, s.link, s.code)); err != nil {
		return Settlement{}, err
	}
	// The message went out: the write recording it runs without the
	// attempt's deadline, which the Notifier may have used up (the entry
	// would be settled below with the invitation left unsent).
	if m.recordSent(context.WithoutCancel(ctx), rec, q) == nil {
		// Nothing marked (a newer secret, or closed meanwhile), or the
		// write failed: settle the entry on its own.
		return Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: Delivered}, nil
	}
	return Settlement{}, nil
}

// keptTokens is the previous-token list of cur's successor when cur's
// current token is replaced at now: cur's token (valid until cur's expiry)
// and the earlier ones still valid, newest first, at most
// MaxPreviousTokens.
func keptTokens(cur *Record, now time.Time) []PreviousToken {
	prev := append([]PreviousToken{{Hash: cur.Credentials.TokenHash, ExpiresAt: cur.Invitation.ExpiresAt}}, cur.Credentials.PreviousTokens...)
	prev = slices.DeleteFunc(prev, func(p PreviousToken) bool { return !now.Before(p.ExpiresAt) })
	return prev[:min(len(prev), MaxPreviousTokens)]
}

// DeadLetters returns up to limit (1..MaxPageSize) of the tenant's
// dead-lettered outbox entries, ordered by id, after the id after ("" from
// the start). An entry holds no secret; an event entry holds the event.
func (m *Manager) DeadLetters(ctx context.Context, tenantID, after string, limit int) ([]*OutboxEntry, error) {
	if m.outbox == nil {
		return nil, ErrNoOutbox
	}
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	checkEntryID(&fe, "After", after, false)
	if limit < 1 || limit > MaxPageSize {
		fe.add("Limit", "must be 1 to "+itoa(MaxPageSize))
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return m.outbox.ListDeadOutbox(ctx, tenantID, after, limit)
}

// Redrive queues the tenant's dead-lettered entries with the given ids
// again, due at once with their attempts starting over, and returns how
// many it queued; ids that are not dead letters of the tenant are ignored.
// A re-driven message whose invitation has closed meanwhile is dropped, not
// sent.
func (m *Manager) Redrive(ctx context.Context, tenantID string, ids ...string) (int, error) {
	if m.outbox == nil {
		return 0, ErrNoOutbox
	}
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	if len(ids) > MaxPageSize {
		fe.add("IDs", "has more than "+itoa(MaxPageSize)+" ids")
	}
	for i, id := range ids {
		checkEntryID(&fe, "IDs["+itoa(i)+"]", id, true)
	}
	if err := fe.err(); err != nil {
		return 0, err
	}
	n, err := m.outbox.RedriveOutbox(ctx, tenantID, ids, m.now())
	if n > 0 && !m.hostTx {
		m.wake.signal()
	}
	return n, err
}

// maxEntryIDBytes bounds an outbox entry's id, in bytes (see Outbox).
const maxEntryIDBytes = 255

// checkEntryID validates an outbox entry's id from the host into fe: an
// identifier (checkText) of at most maxEntryIDBytes bytes, as every Outbox
// takes it.
func checkEntryID(fe *fieldErrs, field, id string, required bool) {
	if len(id) > maxEntryIDBytes {
		fe.add(field, "is longer than "+itoa(maxEntryIDBytes)+" bytes")
		return
	}
	fe.checkText(field, id, MaxIDLen, required)
}

// permanent marks an error a retry cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix (a recipient the
// mail server refuses, a webhook endpoint answering 400): a Dispatcher
// dead-letters the entry at once instead of retrying it. A Notifier or
// EventSink returns it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// retryLater asks for a retry after a given pause.
type retryLater struct {
	err   error
	after time.Duration
}

func (r retryLater) Error() string { return r.err.Error() }
func (r retryLater) Unwrap() error { return r.err }

// RetryAfter marks err as a failure to retry after d (a server's
// Retry-After), instead of the Dispatcher's backoff. RetryAfter(nil, d) is
// nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryLater{err, max(d, 0)}
}

func retryAfter(err error) (time.Duration, bool) {
	var r retryLater
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}
