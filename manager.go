package invite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
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
	m := &Manager{cfg: cfg, link: link}
	m.setStore(store)
	return m, nil
}

func (m *Manager) setStore(s Store) {
	m.store = s
	d, ok := s.(EventDiscarder)
	m.events = m.cfg.EventSink != nil || !ok || !d.DiscardsEvents()
}

// WithStore returns a Manager with the same Config on another store: use it
// to run one operation inside a host transaction (for example
// m.WithStore(sqlStore.WithTx(tx))). It costs one small allocation.
func (m *Manager) WithStore(s Store) *Manager {
	c := *m
	c.setStore(s)
	return &c
}

// maxRetries bounds how often an operation re-reads and recomputes after
// losing a compare-and-swap race.
const maxRetries = 8

// now is the Manager's only clock reading: UTC, truncated to microseconds so
// that every store returns exactly what it was given.
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// Result is what Create, Upsert and Resend return. Token, Code and Link are
// the only place the plaintext secrets ever appear; they print as redacted.
type Result struct {
	Invitation *Invitation
	// Token is the link token (empty on a replay or an Upsert update).
	Token Secret
	// Code is the short code, when one was minted.
	Code Secret
	// Link is the invitation link, when a link template or redirect URI
	// makes one.
	Link Secret
	// Replayed is true when an IdempotencyKey matched an earlier Create: the
	// Invitation is that one's, and no secret is returned (only its hash
	// was kept); Resend mints a new one.
	Replayed bool
	// DeliveryErr is set (matching ErrDelivery) when the Notifier failed.
	// The invitation and its new secret are committed but not marked sent
	// (a new invitation stays pending); Resend retries with a fresh secret.
	DeliveryErr error
}

// ---------------------------------------------------------------- create

// Create validates in, mints the secret, stores the invitation and, with
// DeliverySend, delivers it. See CreateInput for the options.
func (m *Manager) Create(ctx context.Context, in CreateInput) (*Result, error) {
	now := m.now()
	rec, err := m.newRecord(&in, now)
	if err != nil {
		return nil, err
	}
	inv := &rec.Invitation
	if in.IdempotencyKey != "" {
		if res, err := m.replay(ctx, inv); res != nil || !errors.Is(err, ErrNotFound) {
			return res, err
		}
	}
	token, code := m.mint(rec, in.WithCode)
	// Build the link before anything is stored: a failure must not leave a
	// committed invitation whose secret nobody received.
	link, err := buildLink(m.link, m.cfg.LinkTokenParam, &rec.Invitation, token.Reveal(), code.Reveal())
	if err != nil {
		return nil, fmt.Errorf("invite: building link: %w", err)
	}
	if err := m.insert(ctx, rec, in.Supersede, now); err != nil {
		if errors.Is(err, ErrAlreadyExists) && in.IdempotencyKey != "" {
			if res, rerr := m.replay(ctx, inv); res != nil || !errors.Is(rerr, ErrNotFound) {
				return res, rerr
			}
		}
		return nil, err
	}
	res := &Result{Invitation: &rec.Invitation, Token: token, Code: code, Link: NewSecret(link)}
	if in.Delivery == DeliverySend {
		m.deliver(ctx, rec, res, false)
	}
	return res, nil
}

// replay returns the invitation created earlier with inv's idempotency key,
// or ErrNotFound.
func (m *Manager) replay(ctx context.Context, inv *Invitation) (*Result, error) {
	prev, err := m.store.GetByIdempotencyKey(ctx, inv.TenantID, inv.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(prev.Invitation.Invitee.Keys(), inv.Invitee.Keys()) {
		return nil, fmt.Errorf("%w: idempotency key was used for another invitee", ErrConflict)
	}
	out := &prev.Invitation
	out.State = out.StateAt(m.now())
	return &Result{Invitation: out, Replayed: true}, nil
}

// mint adds a fresh token (and code) to inv.
func (m *Manager) mint(rec *Record, withCode bool) (Secret, Secret) {
	token, hash := MintToken(m.cfg.TokenPrefix)
	rec.Credentials = Credentials{TokenHash: hash}
	var code Secret
	if withCode {
		code, rec.Credentials.CodeHash = MintCode(m.cfg.CodeLength, m.cfg.CodeHashParams)
	}
	rec.Invitation.HasCode = withCode
	return token, code
}

// insert stores a new record. When an open invitation of the same invitee
// blocks it, an expired one is marked expired and a live one is revoked
// (with supersede) in the same atomic batch; otherwise ErrAlreadyExists.
func (m *Manager) insert(ctx context.Context, rec *Record, supersede bool, now time.Time) error {
	b := getBatch()
	b.Writes = append(b.Writes, Write{Record: rec})
	b.Events = m.appendEvent(ctx, b.Events, EventCreated, Actor{Kind: ActorAdmin}, nil, &rec.Invitation, now)
	err := m.apply(ctx, b)
	var created []Event // for the retries
	if err != nil {
		created = slices.Clone(b.Events)
	}
	putBatch(b)
	for attempt := 0; err != nil && attempt < maxRetries; attempt++ {
		// A blocker that changed (ErrConflict) or vanished (ErrNotFound)
		// since FindOpen: look again.
		if !errors.Is(err, ErrAlreadyExists) && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			return err
		}
		open, ferr := m.store.FindOpen(ctx, rec.Invitation.TenantID, rec.Invitation.Invitee)
		if ferr != nil {
			return ferr
		}
		if len(open) == 0 && errors.Is(err, ErrAlreadyExists) && rec.Invitation.IdempotencyKey != "" {
			// Nothing blocks the invitee (any more): the collision was the
			// idempotency key, unless that is still free.
			_, kerr := m.store.GetByIdempotencyKey(ctx, rec.Invitation.TenantID, rec.Invitation.IdempotencyKey)
			if !errors.Is(kerr, ErrNotFound) {
				return err
			}
		}
		// With open empty, the blocker closed (expired, accepted, revoked,
		// deleted) since the first try: insert again.
		var b Batch
		for _, o := range open {
			to, ev, actor := StateExpired, EventExpired, Actor{Kind: ActorSystem}
			if o.Invitation.StateAt(now) != StateExpired {
				if !supersede {
					return fmt.Errorf("%w: the invitee has open invitation %s", ErrAlreadyExists, o.Invitation.ID)
				}
				to, ev, actor = StateRevoked, EventRevoked, Actor{Kind: ActorAdmin}
			}
			next := o.shallow()
			closeAs(&next.Invitation, to, now, "superseded")
			if to == StateExpired {
				next.Invitation.Reason = ""
			}
			b.Writes = append(b.Writes, Write{Record: next, Expect: o.Invitation.Version})
			b.Events = m.appendEvent(ctx, b.Events, ev, actor, &o.Invitation, &next.Invitation, now)
		}
		b.Writes = append(b.Writes, Write{Record: rec})
		b.Events = append(b.Events, created...)
		err = m.apply(ctx, &b)
	}
	return err
}

// closeAs moves inv to a closed state, bumping its version.
func closeAs(inv *Invitation, to State, now time.Time, reason string) {
	inv.State = to
	inv.ClosedAt = now
	inv.UpdatedAt = now
	inv.Reason = reason
	inv.Version++
}

// BatchItem is the outcome of one CreateBatch input: a Result or the error
// Create returned for it.
type BatchItem struct {
	Result *Result
	Err    error
}

// CreateBatch creates up to MaxBatchSize invitations, each exactly as Create
// would, and returns one item per input in order. A bad item never fails the
// others; only a batch over MaxBatchSize is an error.
func (m *Manager) CreateBatch(ctx context.Context, ins []CreateInput) ([]BatchItem, error) {
	if len(ins) > MaxBatchSize {
		return nil, &ValidationError{Fields: []FieldError{{Field: "Batch", Reason: "has more than " + itoa(MaxBatchSize) + " items"}}}
	}
	out := make([]BatchItem, len(ins))
	for i := range ins {
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Result, out[i].Err = m.Create(ctx, ins[i])
	}
	return out, nil
}

// UpsertResult is what Upsert returns.
type UpsertResult struct {
	Result
	// Created is true when a new invitation was created, false when an open
	// one was updated.
	Created bool
}

// Upsert creates an invitation, or, when the invitee already has an open
// (and unexpired) invitation in the tenant, replaces that one's data, grants
// and names and restarts its expiry, keeping its secret (reference 003's
// PUT). An update sends nothing and returns no secret. An invitee whose
// identifiers match two different open invitations is ErrConflict.
func (m *Manager) Upsert(ctx context.Context, in CreateInput) (*UpsertResult, error) {
	now := m.now()
	// An update delivers nothing: validate it as such, and leave the
	// delivery checks to Create.
	asUpdate := in
	asUpdate.Delivery = DeliveryReturn
	wantRec, err := m.newRecord(&asUpdate, now)
	if err != nil {
		return nil, err
	}
	want := &wantRec.Invitation
	in.Invitee, in.TemplateKey = asUpdate.Invitee, asUpdate.TemplateKey
	for attempt := 0; attempt < maxRetries; attempt++ {
		open, err := m.store.FindOpen(ctx, want.TenantID, want.Invitee)
		if err != nil {
			return nil, err
		}
		// Lapsed invitations never block: close them (with their events)
		// before updating or creating, as Create does.
		live := open[:0]
		for _, r := range open {
			if r.Invitation.StateAt(m.now()).Open() {
				live = append(live, r)
			} else if _, err := m.expire(ctx, r); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		open = live
		switch len(open) {
		case 0:
			res, err := m.Create(ctx, in)
			if errors.Is(err, ErrAlreadyExists) && !in.Supersede {
				continue // created concurrently: update it
			}
			if err != nil {
				return nil, err
			}
			return &UpsertResult{Result: *res, Created: !res.Replayed}, nil
		case 1:
			id := open[0].Invitation.ID
			rec, _, err := m.mutate(ctx, m.byID(want.TenantID, id), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
				if !cur.Invitation.StateAt(now).Open() {
					return nil, "", Actor{}, errRetry
				}
				next := cur.shallow()
				refresh(&next.Invitation, want, now)
				return next, EventUpdated, Actor{Kind: ActorAdmin}, nil
			})
			// ErrAlreadyExists: a concurrent Create took another of the
			// invitee's keys; look again (two open invitations: ErrConflict).
			if errors.Is(err, errRetry) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyExists) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return &UpsertResult{Result: Result{Invitation: &rec.Invitation}}, nil
		default:
			return nil, fmt.Errorf("%w: the invitee matches open invitations %s and %s", ErrConflict,
				open[0].Invitation.ID, open[1].Invitation.ID)
		}
	}
	return nil, fmt.Errorf("%w: upsert kept racing with concurrent changes", ErrConflict)
}

var errRetry = errors.New("invite: retry")

// refresh copies the caller-controlled fields of want into inv and restarts
// the expiry (from now: IssuedAt); identity, state, secrets and history
// stay.
func refresh(inv *Invitation, want *Invitation, now time.Time) {
	keep := *inv
	*inv = *want
	inv.ID, inv.TenantID, inv.State, inv.Version = keep.ID, keep.TenantID, keep.State, keep.Version
	inv.CreatedAt, inv.SentAt, inv.SendCount = keep.CreatedAt, keep.SentAt, keep.SendCount
	inv.HasCode, inv.IdempotencyKey = keep.HasCode, keep.IdempotencyKey
	inv.IssuedAt, inv.ExpiresAt = now, now.Add(want.ExpiresAt.Sub(want.CreatedAt))
}

// ---------------------------------------------------------------- reads

// Get returns the tenant's invitation with its effective state (an open
// invitation past its expiry reads as expired).
func (m *Manager) Get(ctx context.Context, tenantID, id string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	rec, err := m.store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	inv := &rec.Invitation
	inv.State = inv.StateAt(m.now())
	return inv, nil
}

// ListOptions selects and pages List.
type ListOptions struct {
	Filter
	// Cursor is Page.NextCursor of the previous page ("" for the first).
	Cursor string
	// Limit is the page size: default DefaultPageSize, at most MaxPageSize.
	Limit int
	// Descending lists newest first.
	Descending bool
}

// Page is one page of List.
type Page struct {
	Invitations []*Invitation
	// NextCursor continues the listing; "" when this is the last page.
	NextCursor string
}

// List returns the tenant's invitations matching opts, oldest first (or
// newest first), with keyset pagination: a listing never repeats or skips
// an invitation because others are created meanwhile. Use Filter.UserID for
// the invitations of one user.
func (m *Manager) List(ctx context.Context, tenantID string, opts ListOptions) (*Page, error) {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	q := Query{Filter: opts.Filter, Now: m.now(), Limit: opts.Limit, Descending: opts.Descending}
	q.States = slices.Clone(q.States)
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPageSize
	case q.Limit < 0 || q.Limit > MaxPageSize:
		fe.add("Limit", "must be 1 to "+itoa(MaxPageSize))
	}
	for i, s := range q.States {
		if !s.Valid() {
			fe.add("States["+itoa(i)+"]", "is not a state")
		}
	}
	if q.Email != "" {
		q.Email = strings.ToLower(strings.TrimSpace(q.Email))
	}
	if q.Phone != "" {
		p, ok := NormalizePhone(q.Phone)
		if !ok {
			fe.add("Phone", "is not an international (E.164) phone number")
		}
		q.Phone = p
	}
	if opts.Cursor != "" {
		c, err := ParseCursor(opts.Cursor)
		if err != nil {
			fe.add("Cursor", "is malformed")
		}
		q.After = c
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	items, next, err := m.store.List(ctx, tenantID, q)
	if err != nil {
		return nil, err
	}
	page := &Page{Invitations: items}
	for _, inv := range items {
		inv.State = inv.StateAt(q.Now)
	}
	if next != nil {
		page.NextCursor = next.String()
	}
	return page, nil
}

// Lookup returns what a registration form needs (invitee, inviter, tenant,
// pre-filled data, grants, expiry) for an open invitation. It never changes
// anything: mail link scanners fetch every link. A closed invitation is a
// *TransitionError (ErrExpired, ErrAlreadyAccepted, ...).
func (m *Manager) Lookup(ctx context.Context, token string) (*Invitation, error) {
	h, err := ParseToken(m.cfg.TokenPrefix, token)
	if err != nil {
		return nil, err
	}
	rec, err := m.byToken(h)(ctx)
	if err != nil {
		return nil, err
	}
	if err := transition(&rec.Invitation, m.now(), StateAccepted); err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// ---------------------------------------------------------------- mutations

// shallow copies the record; its slices and maps stay shared. Mutations
// start from a shallow copy of the store's (private) copy and replace fields
// rather than change them in place, so nothing is cloned twice.
func (r *Record) shallow() *Record {
	c := *r
	return &c
}

// successor returns the record a mutation changes into the next version of
// cur: a shallow copy, or, when no events are built (the only reader of cur
// after the mutation), cur itself. A mutation that uses it must not read
// cur after changing the successor, nor change it before an error return.
func (m *Manager) successor(cur *Record) *Record {
	if m.events {
		return cur.shallow()
	}
	return cur
}

// mutation computes the next version of cur. It returns nil to write
// nothing. mutate sets Version and UpdatedAt.
type mutation func(cur *Record, now time.Time) (next *Record, ev EventType, actor Actor, err error)

// mutate loads a record, computes its next version and writes it guarded by
// the version it was computed from, re-reading and recomputing when another
// writer got there first. It reports whether it wrote.
func (m *Manager) mutate(ctx context.Context, load func(context.Context) (*Record, error), fn mutation) (*Record, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, err := load(ctx)
		if err != nil {
			return nil, false, err
		}
		now := m.now()
		version := cur.Invitation.Version // fn's next may be cur itself (successor)
		next, ev, actor, err := fn(cur, now)
		if err != nil || next == nil {
			return cur, false, err
		}
		next.Invitation.Version = version + 1
		next.Invitation.UpdatedAt = now
		b := getBatch()
		b.Writes = append(b.Writes, Write{Record: next, Expect: version})
		if ev != "" {
			b.Events = m.appendEvent(ctx, b.Events, ev, actor, &cur.Invitation, &next.Invitation, now)
		}
		err = m.apply(ctx, b)
		putBatch(b)
		if err == nil {
			return next, true, nil
		}
		// A conflict: another writer got there first. Not found: the record
		// was deleted since it was read, and the next load answers as the
		// caller's lookup does for a missing record (ErrInvalidToken for a
		// token, say).
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) || attempt >= maxRetries {
			return nil, false, err
		}
	}
}

// startingAt returns a loader that yields rec (already read) first and
// re-reads it from the store on every retry.
func (m *Manager) startingAt(rec *Record) func(context.Context) (*Record, error) {
	first := true
	return func(ctx context.Context) (*Record, error) {
		if first {
			first = false
			return rec, nil
		}
		return m.store.Get(ctx, rec.Invitation.TenantID, rec.Invitation.ID)
	}
}

func (m *Manager) byID(tenantID, id string) func(context.Context) (*Record, error) {
	return func(ctx context.Context) (*Record, error) { return m.store.Get(ctx, tenantID, id) }
}

// byToken loads the record a token hash belongs to. A hash that matches
// nothing is ErrInvalidToken; a previous token past its own expiry is
// ErrExpired.
func (m *Manager) byToken(h TokenHash) func(context.Context) (*Record, error) {
	return func(ctx context.Context) (*Record, error) {
		rec, err := m.store.GetByTokenHash(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, err
		}
		if !rec.Credentials.TokenHash.Equal(h) && rec.Invitation.State.Open() {
			// A token replaced by Resend (Config.KeepPreviousTokens) lives
			// until its own expiry, not the invitation's.
			for _, p := range rec.Credentials.PreviousTokens {
				if p.Hash.Equal(h) && !m.now().Before(p.ExpiresAt) {
					return nil, fmt.Errorf("%w: this link was replaced by a newer one and has expired", ErrExpired)
				}
			}
		}
		return rec, nil
	}
}

// AcceptInput is who accepts an invitation.
type AcceptInput struct {
	// Subject is the host's id of the accepting user (new or existing).
	// Required.
	Subject string
	// Email is the subject's verified email, checked when acceptance is
	// bound to the invited email.
	Email string
	// TenantID, when set, pins the acceptance to one tenant: a token of
	// another tenant is ErrInvalidToken and is not consumed. (A token names
	// its own tenant; a host serving tenants on separate paths sets this.)
	TenantID string
}

// Acceptance is the outcome of Accept: the accepted invitation, carrying
// the roles, groups, data and metadata for the host to apply.
type Acceptance struct {
	Invitation *Invitation
	// Replayed is true when the same subject had already accepted: the
	// call is idempotent and the host may apply the grants again safely.
	Replayed bool
}

// Accept accepts the invitation the token belongs to, exactly once under any
// concurrency. Accepting again with the same subject returns the same
// acceptance (Replayed); with another subject it is ErrAlreadyAccepted. An
// expired invitation is ErrExpired; a bound email that differs is
// ErrEmailMismatch and an invitation for another user id is
// ErrSubjectMismatch, and neither consumes the invitation.
func (m *Manager) Accept(ctx context.Context, token string, in AcceptInput) (*Acceptance, error) {
	if err := checkAccept(&in); err != nil {
		return nil, err
	}
	h, err := ParseToken(m.cfg.TokenPrefix, token)
	if err != nil {
		return nil, err
	}
	return m.accept(ctx, m.byToken(h), in, nil)
}

func checkAccept(in *AcceptInput) error {
	var fe fieldErrs
	fe.checkText("Subject", in.Subject, MaxIDLen, true)
	if in.Email != "" {
		e, ok := NormalizeEmail(in.Email)
		if !ok {
			fe.add("Email", "is not a valid email address")
		}
		in.Email = e
	}
	return fe.err()
}

// accept runs the acceptance. With code set it first checks the short code;
// a wrong code is recorded as a failed attempt, guarded by the version it was
// checked at, so parallel guesses cannot exceed the limit. After a right
// code every answer is committed the same way: the acceptance itself, or,
// for a mismatch or a closed invitation, a guard write (as in VerifyCode).
// Otherwise, in a burst of parallel guesses, the right one would be
// answered from a version that the wrong ones have since locked, and the
// answer (even ErrEmailMismatch) tells the guesser the code. A replay to
// the subject that accepted writes nothing: it must stay idempotent (the
// same Version, and parallel replays all succeed), and it answers only a
// caller who names that subject.
func (m *Manager) accept(ctx context.Context, load func(context.Context) (*Record, error), in AcceptInput, code *string) (*Acceptance, error) {
	var replayed bool
	var codeErr, answer error
	rec, _, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		replayed, answer = false, nil
		if in.TenantID != "" && cur.Invitation.TenantID != in.TenantID {
			return nil, "", Actor{}, ErrInvalidToken // another tenant's token: not consumed
		}
		if code == nil {
			return m.acceptNext(cur, &in, now, &replayed)
		}
		if next, ev, actor, err := m.codeFailure(cur, *code, now, &codeErr); next != nil || err != nil {
			return next, ev, actor, err
		}
		next, ev, actor, err := m.acceptNext(cur, &in, now, &replayed)
		if next == nil && !replayed {
			answer = err
			return cur.shallow(), "", Actor{}, nil // the guard write
		}
		return next, ev, actor, err
	})
	switch {
	case err != nil:
		return nil, err
	case codeErr != nil:
		return nil, codeErr
	case answer != nil:
		return nil, answer
	}
	return &Acceptance{Invitation: &rec.Invitation, Replayed: replayed}, nil
}

// acceptNext is accept's mutation once any code has been checked: the
// accepted version of cur, or nothing to write (a replay by the same
// subject, or an error).
func (m *Manager) acceptNext(cur *Record, in *AcceptInput, now time.Time, replayed *bool) (*Record, EventType, Actor, error) {
	inv := &cur.Invitation
	if inv.State == StateAccepted && inv.AcceptedBy == in.Subject {
		*replayed = true
		return nil, "", Actor{}, nil
	}
	if err := transition(inv, now, StateAccepted); err != nil {
		return nil, "", Actor{}, err
	}
	if inv.Invitee.UserID != "" && inv.Invitee.UserID != in.Subject {
		return nil, "", Actor{}, ErrSubjectMismatch
	}
	if (m.cfg.RequireEmailMatch || inv.RequireEmailMatch) && inv.Invitee.Email != "" &&
		emailKey(inv.Invitee.Email) != emailKey(in.Email) {
		return nil, "", Actor{}, ErrEmailMismatch
	}
	next := m.successor(cur)
	next.Invitation.State = StateAccepted
	next.Invitation.AcceptedBy = in.Subject
	next.Invitation.ClosedAt = now
	return next, EventAccepted, Actor{Kind: ActorInvitee, ID: in.Subject}, nil
}

// Reject records that the invitee declined the invitation the token belongs
// to. reason is optional (at most 1,000 characters).
func (m *Manager) Reject(ctx context.Context, token, reason string) (*Invitation, error) {
	h, err := ParseToken(m.cfg.TokenPrefix, token)
	if err != nil {
		return nil, err
	}
	return m.close(ctx, m.byToken(h), StateRejected, EventRejected, Actor{Kind: ActorInvitee}, reason)
}

// Revoke cancels an open invitation (or an expired one) in the tenant.
// reason is optional.
func (m *Manager) Revoke(ctx context.Context, tenantID, id, reason string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	return m.close(ctx, m.byID(tenantID, id), StateRevoked, EventRevoked, ActorFrom(ctx, Actor{Kind: ActorAdmin}), reason)
}

func (m *Manager) close(ctx context.Context, load func(context.Context) (*Record, error), to State, ev EventType, actor Actor, reason string) (*Invitation, error) {
	var fe fieldErrs
	if len(reason) > 1000 || !utf8.ValidString(reason) || hasControl(strings.ReplaceAll(reason, "\n", " ")) {
		fe.add("Reason", "is longer than 1000 bytes, not valid UTF-8 or contains control characters")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	rec, _, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		from := cur.Invitation.StateAt(now)
		if !CanTransition(from, to) && !(to == StateRevoked && from == StateExpired) {
			return nil, "", Actor{}, &TransitionError{ID: cur.Invitation.ID, From: from, To: to}
		}
		next := m.successor(cur)
		closeAs(&next.Invitation, to, now, reason)
		return next, ev, actor, nil
	})
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// UpdateInput changes an invitation. Nil fields stay as they are.
type UpdateInput struct {
	TenantID string
	ID       string
	// Version, when not 0, is the version the caller read: the update is
	// ErrConflict if the invitation changed since.
	Version            int64
	ExpiresAt          *time.Time
	GivenName          *string
	FamilyName         *string
	Roles              *[]string
	Groups             *[]string
	Data               *map[string]string
	FormData           *map[string]map[string]string
	Metadata           *json.RawMessage
	IdentityProviderID *string
	RedirectURI        *string
	Locale             *string
}

// Update changes an open invitation's expiry, grants, data, names, identity
// provider, redirect URI or locale, with optimistic concurrency. Expired
// and closed invitations are a *TransitionError (use Resend to renew).
func (m *Manager) Update(ctx context.Context, in UpdateInput) (*Invitation, error) {
	now := m.now()
	var fe fieldErrs
	fe.checkText("TenantID", in.TenantID, MaxIDLen, true)
	fe.checkText("ID", in.ID, MaxIDLen, true)
	if in.ExpiresAt != nil {
		m.checkExpiry(&fe, "ExpiresAt", in.ExpiresAt.Sub(now))
	}
	// Names are trimmed as Create trims them (into new strings: the
	// pointers are the caller's).
	for _, name := range []**string{&in.GivenName, &in.FamilyName} {
		if *name != nil {
			trimmed := strings.TrimSpace(**name)
			*name = &trimmed
		}
	}
	if in == (UpdateInput{TenantID: in.TenantID, ID: in.ID, Version: in.Version}) {
		// Nothing to change: no write, no event.
		inv, err := m.Get(ctx, in.TenantID, in.ID)
		if err == nil && in.Version != 0 && inv.Version != in.Version {
			err = fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, in.ID, inv.Version, in.Version)
		}
		if err != nil {
			return nil, err
		}
		return inv, nil
	}
	if in.GivenName != nil {
		fe.checkText("GivenName", *in.GivenName, MaxNameLen, false)
	}
	if in.FamilyName != nil {
		fe.checkText("FamilyName", *in.FamilyName, MaxNameLen, false)
	}
	if in.Roles != nil {
		fe.checkList("Roles", *in.Roles)
	}
	if in.Groups != nil {
		fe.checkList("Groups", *in.Groups)
	}
	if in.IdentityProviderID != nil {
		fe.checkText("IdentityProviderID", *in.IdentityProviderID, MaxIDLen, false)
	}
	if in.RedirectURI != nil {
		fe.checkRedirectURI("RedirectURI", *in.RedirectURI)
	}
	if in.Locale != nil && *in.Locale != "" && !validLocale(*in.Locale) {
		fe.add("Locale", "is not a BCP 47 language tag")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	rec, _, err := m.mutate(ctx, m.byID(in.TenantID, in.ID), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		if in.Version != 0 && cur.Invitation.Version != in.Version {
			return nil, "", Actor{}, fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, cur.Invitation.ID, cur.Invitation.Version, in.Version)
		}
		// Only an open invitation may be updated. The table alone would let
		// a lapsed one through (expired -> pending is Resend's renewal) and
		// revive it with a new ExpiresAt but its old secret.
		if from := cur.Invitation.StateAt(now); !from.Open() {
			return nil, "", Actor{}, &TransitionError{ID: cur.Invitation.ID, From: from, To: cur.Invitation.State}
		}
		next := cur.shallow()
		inv := &next.Invitation
		if in.ExpiresAt != nil {
			// The validity restarts now (Resend renews it for as long).
			inv.IssuedAt, inv.ExpiresAt = now, in.ExpiresAt.UTC().Truncate(time.Microsecond)
		}
		setIf(&inv.GivenName, in.GivenName)
		setIf(&inv.FamilyName, in.FamilyName)
		if in.Roles != nil {
			inv.Roles = slices.Clone(*in.Roles)
		}
		if in.Groups != nil {
			inv.Groups = slices.Clone(*in.Groups)
		}
		if in.Data != nil {
			inv.Data, _ = cloneData(*in.Data, nil)
		}
		if in.FormData != nil {
			_, inv.FormData = cloneData(nil, *in.FormData)
		}
		if in.Metadata != nil {
			inv.Metadata = slices.Clone(*in.Metadata)
		}
		setIf(&inv.IdentityProviderID, in.IdentityProviderID)
		setIf(&inv.RedirectURI, in.RedirectURI)
		setIf(&inv.Locale, in.Locale)
		var dfe fieldErrs
		dfe.checkData(inv.Data, inv.FormData, inv.Metadata, m.cfg.MaxDataBytes)
		if err := dfe.err(); err != nil {
			return nil, "", Actor{}, err
		}
		return next, EventUpdated, ActorFrom(ctx, Actor{Kind: ActorAdmin}), nil
	})
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Delete removes the invitation. version, when not 0, must be the stored
// version (else ErrConflict).
func (m *Manager) Delete(ctx context.Context, tenantID, id string, version int64) error {
	if err := checkRef(tenantID, id); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cur, err := m.store.Get(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if version != 0 && cur.Invitation.Version != version {
			return fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, id, cur.Invitation.Version, version)
		}
		now := m.now()
		ev := m.appendEvent(ctx, nil, EventDeleted, Actor{Kind: ActorAdmin}, &cur.Invitation, nil, now)
		err = m.apply(ctx, &Batch{Writes: []Write{{Record: cur, Expect: cur.Invitation.Version, Delete: true}}, Events: ev})
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= maxRetries {
			return err
		}
	}
}

// ResendOptions tunes Resend.
type ResendOptions struct {
	// Delivery: DeliverySend (default) sends through the Notifier;
	// DeliveryReturn only returns the new secret.
	Delivery Delivery
	// ExpiresIn is the new validity; default: the validity the invitation
	// was last given (ExpiresAt - IssuedAt: by Create, Resend, Upsert or
	// an Update of ExpiresAt), kept within Config's range.
	ExpiresIn time.Duration
}

// Resend mints a new secret (and short code, if the invitation has one),
// restarts the expiry and delivers it. The previous token stops working
// unless Config.KeepPreviousTokens. An expired invitation is renewed;
// accepted, rejected and revoked ones are a *TransitionError.
func (m *Manager) Resend(ctx context.Context, tenantID, id string, opts ResendOptions) (*Result, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	var fe fieldErrs
	if opts.ExpiresIn != 0 {
		m.checkExpiry(&fe, "ExpiresIn", opts.ExpiresIn)
	}
	if opts.Delivery != DeliverySend && opts.Delivery != DeliveryReturn {
		fe.add("Delivery", "is not DeliverySend or DeliveryReturn")
	}
	if opts.Delivery == DeliverySend && m.cfg.Notifier == nil {
		fe.add("Delivery", "no Notifier is configured")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	var token, code Secret
	var link string
	rec, _, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		inv := &cur.Invitation
		from := inv.StateAt(now)
		to := inv.State
		if from == StateExpired {
			to = StatePending
		}
		if !CanTransition(from, to) {
			return nil, "", Actor{}, &TransitionError{ID: inv.ID, From: from, To: StateSent}
		}
		if opts.Delivery == DeliverySend {
			if ch, _ := ChannelFor(inv.Invitee); ch == "" {
				return nil, "", Actor{}, &ValidationError{Fields: []FieldError{{Field: "Invitee", Reason: "has no email, phone or user id to deliver to", Err: ErrNoDeliveryChannel}}}
			}
		}
		validity := opts.ExpiresIn
		if validity == 0 {
			validity = min(max(inv.ExpiresAt.Sub(inv.IssuedAt), m.cfg.MinExpiry), m.cfg.MaxExpiry)
		}
		next := cur.shallow()
		token, code = m.mint(next, inv.HasCode)
		if m.cfg.KeepPreviousTokens && from != StateExpired {
			prev := append([]PreviousToken{{Hash: cur.Credentials.TokenHash, ExpiresAt: inv.ExpiresAt}}, cur.Credentials.PreviousTokens...)
			prev = slices.DeleteFunc(prev, func(p PreviousToken) bool { return !now.Before(p.ExpiresAt) })
			next.Credentials.PreviousTokens = prev[:min(len(prev), MaxPreviousTokens)]
		}
		n := &next.Invitation
		n.State, n.IssuedAt, n.ExpiresAt = to, now, now.Add(validity).Truncate(time.Microsecond)
		if from == StateExpired {
			n.ClosedAt = time.Time{}
		}
		// The link is built before the write: a failure must not commit a
		// secret nobody received (the old one would be dead already).
		var err error
		if link, err = buildLink(m.link, m.cfg.LinkTokenParam, n, token.Reveal(), code.Reveal()); err != nil {
			return nil, "", Actor{}, fmt.Errorf("invite: building link: %w", err)
		}
		return next, EventResent, ActorFrom(ctx, Actor{Kind: ActorAdmin}), nil
	})
	if err != nil {
		return nil, err
	}
	res := &Result{Invitation: &rec.Invitation, Token: token, Code: code, Link: NewSecret(link)}
	if opts.Delivery == DeliverySend {
		m.deliver(ctx, rec, res, true)
	}
	return res, nil
}

// deliver sends res's secret for rec through the Notifier and, once it has
// been handed over, marks the invitation sent. A notifier failure is kept in
// res.DeliveryErr; the invitation stays as it was.
func (m *Manager) deliver(ctx context.Context, rec *Record, res *Result, resend bool) {
	inv := &rec.Invitation
	ch, to := ChannelFor(inv.Invitee)
	msg := Message{
		ID: messageID(inv), TenantID: inv.TenantID, InvitationID: inv.ID, Resend: resend,
		Channel: ch, To: to, Locale: inv.Locale, TemplateKey: inv.TemplateKey,
		Vars: Vars{Name: inv.Name(), InviteLink: res.Link, InvitedBy: inv.Inviter.Name, AccountName: inv.AccountName,
			ExpiresAt: inv.ExpiresAt, Code: res.Code},
	}
	if err := m.cfg.Notifier.Notify(ctx, msg); err != nil {
		m.cfg.Logger.WarnContext(ctx, "invite: delivery failed", "invitation_id", inv.ID, "tenant_id", inv.TenantID,
			"channel", string(ch), "error", err)
		res.DeliveryErr = fmt.Errorf("%w: %w", ErrDelivery, err)
		return
	}
	hash := rec.Credentials.TokenHash
	sent, wrote, err := m.mutate(ctx, m.startingAt(rec), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		// Accepted, revoked or re-sent meanwhile: nothing to mark.
		if !cur.Invitation.StateAt(now).Open() || !cur.Credentials.TokenHash.Equal(hash) {
			return nil, "", Actor{}, nil
		}
		next := cur.shallow()
		next.Invitation.State = StateSent
		next.Invitation.SentAt = now
		next.Invitation.SendCount++
		return next, EventSent, Actor{Kind: ActorSystem}, nil
	})
	switch {
	case err != nil:
		m.cfg.Logger.WarnContext(ctx, "invite: marking invitation sent failed", "invitation_id", inv.ID, "error", err)
	case wrote:
		res.Invitation = &sent.Invitation
	}
}

// messageNamespace namespaces message ids (UUIDv5).
var messageNamespace = uuid.MustParse("6f1d2c3e-8a4b-4c5d-9e6f-7a8b9c0d1e2f")

// messageID is stable for one delivery: the invitation, the instant its
// current secret was minted and the version that minted it (two resends in
// the same microsecond differ in version). Delivering the same secret twice
// yields the same id, so notifiers can deduplicate; a resend (new secret)
// gets a new one.
func messageID(inv *Invitation) string {
	return uuid.NewSHA1(messageNamespace, fmt.Appendf(nil, "%s|%s|%d", inv.ID, inv.IssuedAt.Format(time.RFC3339Nano), inv.Version)).String()
}

// MarkSent records that the host delivered an invitation itself (one created
// or resent with DeliveryReturn): the state becomes sent, SentAt is now and
// SendCount grows by one. Closed and expired invitations are a
// *TransitionError.
func (m *Manager) MarkSent(ctx context.Context, tenantID, id string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	rec, _, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		// The table allows expired -> sent (Resend's renewal), but marking
		// must not reopen a lapsed invitation: only open ones qualify.
		if from := cur.Invitation.StateAt(now); !from.Open() {
			return nil, "", Actor{}, &TransitionError{ID: cur.Invitation.ID, From: from, To: StateSent}
		}
		next := cur.shallow()
		next.Invitation.State = StateSent
		next.Invitation.SentAt = now
		next.Invitation.SendCount++
		return next, EventSent, ActorFrom(ctx, Actor{Kind: ActorAdmin}), nil
	})
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// ---------------------------------------------------------------- short codes

// CodeRef names the invitation a short code is checked against: the tenant
// and either the invitation id or the invitee's email or phone.
type CodeRef struct {
	TenantID     string
	InvitationID string
	Email        string
	Phone        string
}

// VerifyCode checks a short code without consuming the invitation and
// returns it, like Lookup. A wrong code is ErrInvalidCode and counts as a
// failed attempt (event invitation.code_failed); after
// Config.CodeMaxAttempts failures in total every attempt is ErrCodeLocked.
// Wrong guesses count while the invitation is open or accepted (an accepted
// invitation's code still replays the acceptance to its subject).
// Each answer is committed against the version it was computed from, so
// parallel guesses cannot exceed the limit: an answer to a right code
// (success, or the error of a closed invitation) is a guard write that
// bumps Version and emits no event (the invitation itself does not change).
func (m *Manager) VerifyCode(ctx context.Context, ref CodeRef, code string) (*Invitation, error) {
	load, err := m.byCode(ref)
	if err != nil {
		return nil, err
	}
	var codeErr, answer error
	rec, _, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		if next, ev, actor, err := m.codeFailure(cur, code, now, &codeErr); next != nil || err != nil {
			return next, ev, actor, err
		}
		// A guard write: it commits this answer (success, or the state
		// that forbids accepting) against the version it was computed
		// from, so parallel guesses cannot outrun the failure limit.
		answer = transition(&cur.Invitation, now, StateAccepted)
		return cur.shallow(), "", Actor{}, nil
	})
	switch {
	case err != nil:
		return nil, err
	case codeErr != nil:
		return nil, codeErr
	case answer != nil:
		return nil, answer
	}
	return &rec.Invitation, nil
}

// AcceptCode is Accept with a short code instead of the link token. A wrong
// code counts as a failed attempt exactly as in VerifyCode, and an answer
// to a right code that accepts nothing (ErrEmailMismatch,
// ErrSubjectMismatch, a closed invitation) is a guard write as there. A
// replay to the subject that accepted writes nothing, as in Accept.
func (m *Manager) AcceptCode(ctx context.Context, ref CodeRef, code string, in AcceptInput) (*Acceptance, error) {
	if err := checkAccept(&in); err != nil {
		return nil, err
	}
	load, err := m.byCode(ref)
	if err != nil {
		return nil, err
	}
	return m.accept(ctx, load, in, &code)
}

// checkCode verifies code against cur's code hash at now. countable
// reports whether a failure is to be recorded: a wrong guess at the code of
// an open invitation, or of an accepted one (whose code still replays the
// acceptance to its subject), counts; an invitation without a code, one
// otherwise closed or a locked code answers without writing anything.
func (m *Manager) checkCode(cur *Record, code string, now time.Time) (countable bool, err error) {
	c := &cur.Credentials
	if !cur.Invitation.HasCode || len(c.CodeHash) == 0 {
		return false, ErrInvalidCode
	}
	if c.CodeFailures >= m.cfg.CodeMaxAttempts {
		return false, ErrCodeLocked
	}
	st := cur.Invitation.StateAt(now)
	countable = st.Open() || st == StateAccepted
	norm, ok := NormalizeCode(code)
	if !ok || len(norm) != m.cfg.CodeLength {
		return countable, ErrInvalidCode
	}
	match, err := VerifyCode(c.CodeHash, norm)
	if err != nil {
		return false, err
	}
	if !match {
		return countable, ErrInvalidCode
	}
	return false, nil
}

// codeFailure checks the code in cur and, for a countable failure, returns
// the write that records it (event invitation.code_failed); *codeErr gets
// the answer to give once that write has committed.
func (m *Manager) codeFailure(cur *Record, code string, now time.Time, codeErr *error) (*Record, EventType, Actor, error) {
	countable, err := m.checkCode(cur, code, now)
	*codeErr = err
	if err == nil || !countable {
		return nil, "", Actor{}, err
	}
	next := cur.shallow()
	next.Credentials.CodeFailures++
	return next, EventCodeFailed, Actor{Kind: ActorInvitee}, nil
}

// byCode resolves a CodeRef to its record loader. A ref that matches
// nothing is ErrInvalidCode, so codes cannot be used to probe for invitees.
func (m *Manager) byCode(ref CodeRef) (func(context.Context) (*Record, error), error) {
	var fe fieldErrs
	fe.checkText("TenantID", ref.TenantID, MaxIDLen, true)
	var iv Invitee
	switch {
	case ref.InvitationID != "":
		fe.checkText("InvitationID", ref.InvitationID, MaxIDLen, true)
	case ref.Email != "" || ref.Phone != "":
		iv = Invitee{Email: ref.Email, Phone: ref.Phone}
		fe.checkInvitee(&iv)
	default:
		fe.add("InvitationID", "or Email or Phone is required")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*Record, error) {
		if ref.InvitationID != "" {
			rec, err := m.store.Get(ctx, ref.TenantID, ref.InvitationID)
			if errors.Is(err, ErrNotFound) {
				return nil, ErrInvalidCode
			}
			return rec, err
		}
		open, err := m.store.FindOpen(ctx, ref.TenantID, iv)
		if err != nil {
			return nil, err
		}
		var found *Record
		for _, r := range open {
			if r.Invitation.HasCode && (found == nil || r.Invitation.StateAt(m.now()).Open()) {
				found = r
			}
		}
		if found == nil {
			// No open invitation: an accepted one may be retried (Accept is
			// idempotent for the same subject).
			page, _, err := m.store.List(ctx, ref.TenantID, Query{
				Filter: Filter{States: []State{StateAccepted}, Email: strings.ToLower(iv.Email), Phone: iv.Phone},
				Now:    m.now(), Limit: 10, Descending: true,
			})
			if err != nil {
				return nil, err
			}
			for _, inv := range page {
				if inv.HasCode {
					return m.store.Get(ctx, ref.TenantID, inv.ID)
				}
			}
			return nil, ErrInvalidCode
		}
		return found, nil
	}, nil
}

// ---------------------------------------------------------------- maintenance

// ExpireDue marks up to limit (default 1,000) open invitations past their
// expiry as expired, across tenants, each with its event, and returns how
// many it marked. Run it periodically; reads treat such invitations as
// expired already.
func (m *Manager) ExpireDue(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	due, err := m.store.ListDue(ctx, m.now(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, rec := range due {
		wrote, err := m.expire(ctx, rec)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if wrote {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// expire marks rec expired (with its event) if it is still open and past
// its expiry, starting from rec and re-reading on conflict.
func (m *Manager) expire(ctx context.Context, rec *Record) (bool, error) {
	_, wrote, err := m.mutate(ctx, m.startingAt(rec), func(cur *Record, now time.Time) (*Record, EventType, Actor, error) {
		if !cur.Invitation.State.Open() || cur.Invitation.StateAt(now) != StateExpired {
			return nil, "", Actor{}, nil
		}
		next := cur.shallow()
		closeAs(&next.Invitation, StateExpired, now, "")
		return next, EventExpired, Actor{Kind: ActorSystem}, nil
	})
	return wrote, err
}

// Purge deletes up to limit (default 1,000) accepted, rejected, revoked and
// expired invitations closed more than retention ago, across tenants, and
// returns how many it deleted. Purging is retention, not a change: it emits
// no events. Run ExpireDue first so that lapsed invitations are closed.
func (m *Manager) Purge(ctx context.Context, retention time.Duration, limit int) (int, error) {
	if retention < 0 {
		return 0, &ValidationError{Fields: []FieldError{{Field: "Retention", Reason: "must not be negative"}}}
	}
	if limit <= 0 {
		limit = 1000
	}
	return m.store.Purge(ctx, m.now().Add(-retention), limit)
}

// ---------------------------------------------------------------- plumbing

// apply writes the batch and, once it has committed, hands its events to the
// sink.
func (m *Manager) apply(ctx context.Context, b *Batch) error {
	if err := m.store.Apply(ctx, b); err != nil {
		return err
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
		InvitationID: inv.ID, Actor: actor, Old: old, New: new})
}

// batchPool recycles the batches of single-record changes (Store.Apply
// must not retain them).
var batchPool = sync.Pool{New: func() any { return &Batch{Writes: make([]Write, 0, 1), Events: make([]Event, 0, 1)} }}

func getBatch() *Batch { return batchPool.Get().(*Batch) }

func putBatch(b *Batch) {
	clear(b.Writes[:cap(b.Writes)])
	clear(b.Events[:cap(b.Events)])
	b.Writes, b.Events = b.Writes[:0], b.Events[:0]
	batchPool.Put(b)
}

func checkRef(tenantID, id string) error {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	fe.checkText("ID", id, MaxIDLen, true)
	return fe.err()
}

func (m *Manager) checkExpiry(fe *fieldErrs, field string, d time.Duration) {
	if d < m.cfg.MinExpiry || d > m.cfg.MaxExpiry {
		fe.add(field, "must be between "+m.cfg.MinExpiry.String()+" and "+m.cfg.MaxExpiry.String()+" from now")
	}
}

// newRecord validates and normalises in (in place) and returns the record
// of the new invitation it describes, without secrets. The record owns
// copies of the input's slices and maps.
func (m *Manager) newRecord(in *CreateInput, now time.Time) (*Record, error) {
	var fe fieldErrs
	fe.checkText("TenantID", in.TenantID, MaxIDLen, true)
	fe.checkInvitee(&in.Invitee)
	fe.checkText("GivenName", in.GivenName, MaxNameLen, false)
	fe.checkText("FamilyName", in.FamilyName, MaxNameLen, false)
	fe.checkText("Inviter.ID", in.Inviter.ID, MaxIDLen, false)
	fe.checkText("Inviter.Name", in.Inviter.Name, MaxNameLen, false)
	fe.checkText("AccountName", in.AccountName, MaxNameLen, false)
	fe.checkList("Roles", in.Roles)
	fe.checkList("Groups", in.Groups)
	fe.checkData(in.Data, in.FormData, in.Metadata, m.cfg.MaxDataBytes)
	fe.checkText("ClientID", in.ClientID, MaxIDLen, false)
	fe.checkText("IdentityProviderID", in.IdentityProviderID, MaxIDLen, false)
	fe.checkRedirectURI("RedirectURI", in.RedirectURI)
	fe.checkText("IdempotencyKey", in.IdempotencyKey, MaxIDLen, false)
	if in.LinkTemplate != "" {
		if len(in.LinkTemplate) > maxTemplateLen || hasControl(in.LinkTemplate) {
			fe.add("LinkTemplate", "is longer than "+itoa(maxTemplateLen)+" bytes or contains control characters")
		} else if _, err := parseLinkTemplate(in.LinkTemplate); err != nil {
			fe.add("LinkTemplate", "does not parse: "+err.Error())
		}
	}
	if in.TemplateKey == "" {
		in.TemplateKey = m.cfg.DefaultTemplateKey
	} else if !slices.Contains(m.cfg.TemplateKeys, in.TemplateKey) {
		fe.addErr("TemplateKey", "is not a known template key", ErrUnknownTemplate)
	}
	if in.Locale != "" && !validLocale(in.Locale) {
		fe.add("Locale", "is not a BCP 47 language tag")
	}
	validity := in.ExpiresIn
	switch {
	case !in.ExpiresAt.IsZero():
		validity = in.ExpiresAt.Sub(now)
		m.checkExpiry(&fe, "ExpiresAt", validity)
	case validity == 0:
		validity = m.cfg.DefaultExpiry
	default:
		m.checkExpiry(&fe, "ExpiresIn", validity)
	}
	if in.RequireEmailMatch && in.Invitee.Email == "" {
		fe.add("RequireEmailMatch", "needs Invitee.Email")
	}
	if in.Invitee.IsZero() {
		fe.addErr("Invitee", "needs an email, phone or user id", ErrNoDeliveryChannel)
	}
	switch in.Delivery {
	case DeliverySend:
		if m.cfg.Notifier == nil {
			fe.add("Delivery", "no Notifier is configured (use DeliveryReturn)")
		}
		if !in.WithCode && in.LinkTemplate == "" && m.link == nil && in.RedirectURI == "" {
			fe.add("LinkTemplate", "nothing to deliver: set Config.LinkTemplate, LinkTemplate or RedirectURI, or WithCode")
		}
	case DeliveryReturn:
	default:
		fe.add("Delivery", "is not DeliverySend or DeliveryReturn")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	rec := &Record{Invitation: Invitation{
		ID: newID(now), TenantID: in.TenantID, Invitee: in.Invitee,
		GivenName: strings.TrimSpace(in.GivenName), FamilyName: strings.TrimSpace(in.FamilyName),
		Inviter: in.Inviter, AccountName: in.AccountName, Roles: in.Roles, Groups: in.Groups,
		Data: in.Data, FormData: in.FormData, Metadata: in.Metadata,
		ClientID: in.ClientID, IdentityProviderID: in.IdentityProviderID, RedirectURI: in.RedirectURI,
		LinkTemplate: in.LinkTemplate, TemplateKey: in.TemplateKey, Locale: in.Locale,
		RequireEmailMatch: in.RequireEmailMatch || (m.cfg.RequireEmailMatch && in.Invitee.Email != ""),
		State:             StatePending, CreatedAt: now, UpdatedAt: now, IssuedAt: now,
		ExpiresAt:      now.Add(validity).Truncate(time.Microsecond),
		IdempotencyKey: in.IdempotencyKey, Version: 1,
	}}
	inv := &rec.Invitation
	inv.cloneCollections()
	return rec, nil
}
