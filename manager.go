package invite

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"text/template"
	"time"
)

// Manager runs the invitation lifecycle on a Store. It holds no state between
// calls and is safe for concurrent use; several Managers (one per replica) may
// share one Store.
type Manager struct {
	store Store
	// events is false when nobody would see events (the store discards
	// them and there is no EventSink): then none are built.
	events bool
	cfg    Config
	link   *template.Template
	codes  *codeGuard
	// outbox is the store's Outbox ability, nil when it has none.
	outbox Outbox
	// hostTx is set when the store works inside a host's transaction:
	// nothing is sent or published from here, since the host may roll back.
	hostTx bool
	// limits is set when the store enforces Write.OpenLimit.
	limits bool
	// wake tells this process's Dispatchers that entries were queued.
	wake *waker
}

// New returns a Manager for store. It validates cfg (a *ValidationError
// naming the bad fields) and fills its defaults.
func New(store Store, cfg Config) (*Manager, error) {
	if store == nil {
		return nil, errNilStore
	}
	cfg, link, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, link: link, codes: newCodeGuard(cfg.CodeCheckConcurrency, cfg.CodeHashParams), wake: &waker{}}
	m.setStore(store)
	if cfg.MaxOpenPerInviter > 0 && !m.limits {
		return nil, &ValidationError{Fields: []FieldError{newFieldError("MaxOpenPerInviter",
			"needs a store that enforces it (OpenLimiter)", nil)}}
	}
	return m, nil
}

func (m *Manager) setStore(s Store) {
	m.store = s
	m.events = m.cfg.EventSink != nil
	m.outbox, _ = s.(Outbox)
	ht, ok := s.(HostTransaction)
	m.hostTx = ok && ht.InHostTransaction()
	ol, ok := s.(OpenLimiter)
	m.limits = ok && ol.EnforcesOpenLimit()
}

// WithStore returns a Manager with the same Config on another store: use it
// to run one operation inside a host transaction (for example
// m.WithStore(sqlStore.WithTx(tx))). It costs one small allocation.
func (m *Manager) WithStore(s Store) *Manager {
	c := *m
	c.setStore(s)
	return &c
}

// Wake tells this process's Dispatchers (those of this Manager and of the
// Managers WithStore derived from it) to look for due entries now rather
// than at their next poll. The Manager wakes them itself after each write
// that queued something, except inside a host transaction, where the
// entries are not visible until the host commits: call Wake after the
// commit to deliver them at once.
func (m *Manager) Wake() { m.wake.signal() }

// maxRetries bounds how often an operation re-reads and recomputes after
// losing a compare-and-swap race.
const maxRetries = 8

// now is the Manager's only clock reading: UTC, truncated to microseconds so
// that every store returns exactly what it was given.
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// apply writes the batch. With an Outbox, its events and messages are
// queued with it, and this process's Dispatchers are woken; otherwise, once
// it has committed, its events go to the sink.
func (m *Manager) apply(ctx context.Context, b *Batch) error {
	if m.hostTx && m.outbox == nil && len(b.Events) > 0 {
		// Events are built only for an EventSink. Published now, the sink
		// could hear of a change the host then rolls back; not published,
		// they would be lost: neither is acceptable, so nothing is written.
		return fmt.Errorf("%w: inside a host transaction, events reach Config.EventSink only through an Outbox", ErrNoOutbox)
	}
	if err := m.store.Apply(ctx, b); err != nil {
		return err
	}
	if m.outbox != nil {
		if len(b.Events)+len(b.Messages) > 0 && !m.hostTx {
			m.wake.signal()
		}
		return nil
	}
	if m.cfg.EventSink != nil && len(b.Events) > 0 {
		if err := m.cfg.EventSink.Publish(ctx, b.Events); err != nil {
			m.cfg.Logger.WarnContext(ctx, "invite: event sink failed", "events", len(b.Events), "error", err)
		}
	}
	return nil
}

// appendEvent appends the event of a change to evs, unless nobody would
// see it (m.events); actor is the default when the context names none
// (invitee and system actors are not overridden).
func (m *Manager) appendEvent(ctx context.Context, evs []Event, typ EventType, actor Actor, old, new *Invitation, now time.Time) []Event {
	if !m.events {
		return evs
	}
	if actor.Kind == ActorAdmin {
		actor = ActorFrom(ctx, actor)
	}
	inv := new
	if inv == nil {
		inv = old
	}
	return append(evs, Event{ID: newID(now), Type: typ, Time: now, TenantID: inv.TenantID,
		InvitationID: inv.ID, Version: inv.Version, Actor: actor, Old: old, New: new})
}

// batchPool recycles the batches of single-record changes (Store.Apply
// must not retain them).
var batchPool = sync.Pool{New: func() any { return &Batch{Writes: make([]Write, 0, 1), Events: make([]Event, 0, 1)} }}

func getBatch() *Batch { return batchPool.Get().(*Batch) }

func putBatch(b *Batch) {
	clear(b.Writes[:cap(b.Writes)])
	clear(b.Events[:cap(b.Events)])
	b.Writes, b.Events, b.Messages, b.Delivered = b.Writes[:0], b.Events[:0], b.Messages[:0], b.Delivered[:0]
	batchPool.Put(b)
}

// waker wakes the Dispatchers of one process (those made from a Manager
// and the Managers WithStore derives from it) when entries are queued.
type waker struct {
	mu    sync.Mutex
	chans []chan struct{}
}

func (w *waker) add(c chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chans = append(w.chans, c)
}

func (w *waker) remove(c chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chans = slices.DeleteFunc(w.chans, func(x chan struct{}) bool { return x == c })
}

// signal wakes every Dispatcher that is not awake already.
func (w *waker) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.chans {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
