package invite

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Delivery says what Create (or Resend) does with the new secret.
type Delivery int

const (
	// DeliverySend sends the link (and code) through the Notifier. It is
	// the default.
	DeliverySend Delivery = iota
	// DeliveryReturn returns the secret to the caller and sends nothing:
	// the host delivers it (and may record that with MarkSent).
	DeliveryReturn
)

// String returns "send" or "return", the JSON form of a Delivery.
func (d Delivery) String() string {
	switch d {
	case DeliverySend:
		return "send"
	case DeliveryReturn:
		return "return"
	}
	return "Delivery(" + itoa(int(d)) + ")"
}

// MarshalText encodes d as "send" or "return".
func (d Delivery) MarshalText() ([]byte, error) {
	if d != DeliverySend && d != DeliveryReturn {
		return nil, fmt.Errorf("invite: %v is not a delivery", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes "send" or "return".
func (d *Delivery) UnmarshalText(b []byte) error {
	switch string(b) {
	case "send":
		*d = DeliverySend
	case "return":
		*d = DeliveryReturn
	default:
		return fmt.Errorf("invite: delivery %q is not \"send\" or \"return\"", b)
	}
	return nil
}

// CreateInput describes a new invitation. Only TenantID and one invitee
// identifier are required. Its JSON form (for a host that decodes requests
// into it) names every field in snake_case after its Go name, as
// FieldError.Path does; ExpiresIn has none (use ExpiresInSeconds or
// ExpiresInDays).
type CreateInput struct {
	TenantID    string                       `json:"tenant_id,omitempty"`
	Invitee     Invitee                      `json:"invitee"`
	GivenName   string                       `json:"given_name,omitempty"`
	FamilyName  string                       `json:"family_name,omitempty"`
	Inviter     Inviter                      `json:"inviter"`
	AccountName string                       `json:"account_name,omitempty"`
	Roles       []string                     `json:"roles,omitempty"`
	Groups      []string                     `json:"groups,omitempty"`
	Data        map[string]string            `json:"data,omitempty"`
	FormData    map[string]map[string]string `json:"form_data,omitempty"`
	// Variables are template variables of the host's own for the
	// invitation's messages (see Invitation.Variables): names of 1 to 64
	// lower-case letters, digits and underscores, starting with a letter,
	// other than the built-in ones (those of Vars.Map); values up to
	// MaxVariableLen characters; at most Config.MaxDataBytes together.
	Variables map[string]string `json:"variables,omitempty"`
	Metadata  json.RawMessage   `json:"metadata,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	// IdentityProviderID is the identity provider the invitee must use.
	IdentityProviderID string `json:"identity_provider_id,omitempty"`
	// RedirectURI is an absolute https URI (http only for localhost) the
	// link points to.
	RedirectURI string `json:"redirect_uri,omitempty"`
	// LinkTemplate overrides Config.LinkTemplate for this invitation.
	LinkTemplate string `json:"link_template,omitempty"`
	// TemplateKey selects the message template; default
	// Config.DefaultTemplateKey. Must be one of Config.TemplateKeys.
	TemplateKey string `json:"template_key,omitempty"`
	// Locale is a BCP 47 language tag for the message ("de", "pt-BR").
	Locale string `json:"locale,omitempty"`
	// ExpiresIn is the validity; default Config.DefaultExpiry. ExpiresAt,
	// when set, wins. Either must fall within Config.MinExpiry..MaxExpiry.
	ExpiresIn time.Duration `json:"-"`
	// ExpiresInSeconds and ExpiresInDays give ExpiresIn in whole seconds
	// or days, the forms a JSON client can write (new(3) in Go). At most
	// one of the three may be set. nil (a JSON member left out or null)
	// is not given; a count that is given must be at least 1: 0 is out of
	// range, never the default validity.
	ExpiresInSeconds *int64    `json:"expires_in_seconds,omitempty"`
	ExpiresInDays    *int      `json:"expires_in_days,omitempty"`
	ExpiresAt        time.Time `json:"expires_at,omitzero"`
	Delivery         Delivery  `json:"delivery,omitempty"`
	// WithCode also mints a short code (for SMS or typed entry).
	WithCode bool `json:"with_code,omitempty"`
	// RequireEmailMatch binds acceptance to Invitee.Email (also forced on by
	// Config.RequireEmailMatch).
	RequireEmailMatch bool `json:"require_email_match,omitempty"`
	// Supersede revokes the invitee's open invitations instead of failing
	// with ErrAlreadyExists.
	Supersede bool `json:"supersede,omitempty"`
	// IdempotencyKey makes a retried Create (same tenant and key) return the
	// first invitation instead of creating a second one.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// InviterLimit overrides Config.MaxOpenPerInviter for this call: the
	// most open invitations the inviter may hold, this one included; 0
	// takes the Config's, a negative value sets no limit. It is the
	// host's to set, never a client's: it has no JSON form.
	InviterLimit int `json:"-"`
	// ResendOnUpdate is for Upsert (Create and CreateBatch ignore it): when
	// Upsert updates the invitee's open invitation, it also mints a new
	// secret (and short code, if the invitation has one or WithCode is
	// set) in the same write and delivers it per Delivery, as Resend does.
	// Without it, an update keeps the secret and sends nothing.
	ResendOnUpdate bool `json:"resend_on_update,omitempty"`
}

// Result is what Create, Upsert, Resend and UpdateAndResend return. Token,
// Code and Link are the only place the plaintext secrets ever appear; they
// print as redacted and are left out of Result's JSON form ({"invitation",
// "replayed", "delivery_error"}): a host that hands a secret to its caller
// (with DeliveryReturn) reveals it deliberately with Secret.Reveal.
type Result struct {
	Invitation *Invitation `json:"invitation"`
	// Token is the link token (empty on a replay, and on an Upsert update
	// without CreateInput.ResendOnUpdate).
	Token Secret `json:"-"`
	// Code is the short code, when one was minted.
	Code Secret `json:"-"`
	// Link is the invitation link, when a link template or redirect URI
	// makes one.
	Link Secret `json:"-"`
	// Replayed is true when an IdempotencyKey matched an earlier Create: the
	// Invitation is that one's, and no secret is returned (only its hash
	// was kept); Resend mints a new one.
	Replayed bool `json:"replayed"`
	// DeliveryErr is set (matching ErrDelivery) when the Notifier failed.
	// The invitation and its new secret are committed but not marked sent
	// (a new invitation stays pending). With a Store that implements
	// Outbox the message stays queued, and a Dispatcher retries it with a
	// fresh secret; with another Store, Resend does. Inside a host
	// transaction on a Store without an Outbox nothing is sent at all, and
	// DeliveryErr also matches ErrNoOutbox (see HostTransaction). Its JSON form is
	// "delivery_error", a fixed text (the notifier's error may carry
	// anything).
	DeliveryErr error `json:"-"`
}

// MarshalJSON encodes r without its secrets; a failed delivery is
// "delivery_error": "delivery failed".
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	out := struct {
		plain
		DeliveryError string `json:"delivery_error,omitempty"`
	}{plain: plain(r)}
	if r.DeliveryErr != nil {
		out.DeliveryError = "delivery failed"
	}
	return json.Marshal(out)
}

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
		rec.Credentials.RequestDigest = requestDigest(&in)
		if res, err := m.replay(ctx, rec); res != nil || !errors.Is(err, ErrNotFound) {
			return res, err
		}
	}
	token, code, err := m.mint(rec, in.WithCode)
	if err != nil {
		return nil, err
	}
	// Build the link before anything is stored: a failure must not leave a
	// committed invitation whose secret nobody received.
	link, err := m.buildLink(&rec.Invitation, token, code)
	if err != nil {
		return nil, err
	}
	var queued *QueuedMessage
	if in.Delivery == DeliverySend {
		queued = m.queueMessage(inv, false, now)
	}
	limit := m.openLimit(&in)
	if err := m.insert(ctx, rec, queued, in.Supersede, limit, now); err != nil {
		if errors.Is(err, ErrQuotaExceeded) {
			return nil, &QuotaError{TenantID: inv.TenantID, InviterID: inv.Inviter.ID, Limit: limit}
		}
		if errors.Is(err, ErrAlreadyExists) && in.IdempotencyKey != "" {
			if res, rerr := m.replay(ctx, rec); res != nil || !errors.Is(rerr, ErrNotFound) {
				return res, rerr
			}
		}
		return nil, err
	}
	res := &Result{Invitation: &rec.Invitation, Token: token, Code: code, Link: NewSecret(link)}
	if in.Delivery == DeliverySend {
		m.deliver(ctx, rec, res, queued, false)
	}
	return res, nil
}

// requestDigest is the SHA-256 of what in asks for, validated and
// normalised (emails and phones in their normal form): every field but
// the tenant and the idempotency key, which find the earlier request, and
// the expiry as given (a duration, or an instant), so that a retry at a
// later time matches.
func requestDigest(in *CreateInput) []byte {
	req := *in
	req.TenantID, req.IdempotencyKey = "", ""
	if len(req.Metadata) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, req.Metadata) == nil {
			req.Metadata = b.Bytes()
		}
	}
	doc, err := json.Marshal(struct {
		CreateInput
		ExpiresIn    time.Duration `json:"expires_in"`
		InviterLimit int           `json:"inviter_limit"`
	}{req, req.ExpiresIn, req.InviterLimit})
	if err != nil {
		// The input was validated: its Metadata is JSON.
		doc = []byte(err.Error())
	}
	sum := sha256.Sum256(doc)
	return sum[:]
}

// openLimit is the OpenLimit of in's insert: InviterLimit, else
// Config.MaxOpenPerInviter; 0 for no limit and for an invitation without
// an inviter id. (checkCreate refused a limit the store cannot enforce.)
func (m *Manager) openLimit(in *CreateInput) int {
	limit := cmp.Or(in.InviterLimit, m.cfg.MaxOpenPerInviter)
	if limit < 0 || in.Inviter.ID == "" {
		return 0
	}
	return limit
}

// replay returns the invitation created earlier with rec's idempotency
// key, or ErrNotFound. The earlier request must be rec's: the same digest
// (for an invitation stored without one, the same invitee).
func (m *Manager) replay(ctx context.Context, rec *Record) (*Result, error) {
	inv := &rec.Invitation
	prev, err := m.store.GetByIdempotencyKey(ctx, inv.TenantID, inv.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if d := prev.Credentials.RequestDigest; len(d) > 0 {
		if !bytes.Equal(d, rec.Credentials.RequestDigest) {
			return nil, fmt.Errorf("%w: it was first used with a different request", ErrIdempotencyMismatch)
		}
	} else if !slices.Equal(prev.Invitation.Invitee.Keys(), inv.Invitee.Keys()) {
		return nil, fmt.Errorf("%w: it was first used for another invitee", ErrIdempotencyMismatch)
	}
	out := &prev.Invitation
	out.State = out.StateAt(m.now())
	return &Result{Invitation: out, Replayed: true}, nil
}

// mint adds a fresh token (and code) to rec. (New validated what minting
// depends on: an error here is a bug.)
func (m *Manager) mint(rec *Record, withCode bool) (token, code Secret, err error) {
	token, hash, err := MintToken(m.cfg.TokenPrefix)
	if err != nil {
		return Secret{}, Secret{}, err
	}
	rec.Credentials = Credentials{TokenHash: hash, RequestDigest: rec.Credentials.RequestDigest}
	if withCode {
		if code, rec.Credentials.CodeHash, err = MintCode(m.cfg.CodeLength, m.cfg.CodeHashParams); err != nil {
			return Secret{}, Secret{}, err
		}
	}
	rec.Invitation.HasCode = withCode
	return token, code, nil
}

// insert stores a new record, and queues msg with it when it is not nil.
// When an open invitation of the same invitee blocks it, an expired one is
// marked expired and a live one is revoked (with supersede) in the same
// atomic batch; otherwise ErrAlreadyExists.
func (m *Manager) insert(ctx context.Context, rec *Record, msg *QueuedMessage, supersede bool, limit int, now time.Time) error {
	b := getBatch()
	b.Writes = append(b.Writes, Write{Record: rec, OpenLimit: limit})
	if msg != nil {
		b.Messages = append(b.Messages, *msg)
	}
	b.Events = m.appendEvent(ctx, b.Events, EventCreated, Actor{Kind: ActorAdmin}, nil, &rec.Invitation, now)
	err := m.apply(ctx, b)
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
			// A lapsed blocker is expired; a live one is superseded, if the
			// caller asked for it.
			op, ev, actor, reason := OpExpire, EventExpired, Actor{Kind: ActorSystem}, ""
			if o.Invitation.StateAt(now) != StateExpired {
				if !supersede {
					return &ExistsError{TenantID: o.Invitation.TenantID, ID: o.Invitation.ID}
				}
				op, ev, actor, reason = OpSupersede, EventRevoked, Actor{Kind: ActorAdmin}, "superseded"
			}
			to, terr := check(op, &o.Invitation, now)
			if terr != nil {
				return terr
			}
			next := o.shallow()
			closeAs(&next.Invitation, to, now, reason)
			b.Writes = append(b.Writes, Write{Record: next, Expect: o.Invitation.Version})
			b.Events = m.appendEvent(ctx, b.Events, ev, actor, &o.Invitation, &next.Invitation, now)
		}
		b.Writes = append(b.Writes, Write{Record: rec, OpenLimit: limit})
		b.Events = m.appendEvent(ctx, b.Events, EventCreated, Actor{Kind: ActorAdmin}, nil, &rec.Invitation, now)
		if msg != nil {
			b.Messages = append(b.Messages, *msg)
		}
		err = m.apply(ctx, &b)
	}
	return err
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
		return nil, &ValidationError{Fields: []FieldError{newFieldError("Batch", "has more than "+itoa(MaxBatchSize)+" items", nil)}}
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
	Created bool `json:"created"`
}

// MarshalJSON encodes r as its Result with "created".
func (r UpsertResult) MarshalJSON() ([]byte, error) {
	b, err := r.Result.MarshalJSON()
	if err != nil {
		return nil, err
	}
	created := `,"created":false}`
	if r.Created {
		created = `,"created":true}`
	}
	return append(b[:len(b)-1], created...), nil
}

// Upsert creates an invitation, or, when the invitee already has an open
// (and unexpired) invitation in the tenant, replaces that one's data, grants
// and names and restarts its expiry (create-or-update). An update keeps
// the secret, sends nothing, returns no secret and emits
// invitation.updated; with in.ResendOnUpdate it is a resend as well, in
// the same atomic write: a new secret, delivered per in.Delivery (queued
// with the write when the Store implements Outbox) and returned in the
// Result as Resend returns it, and the event is invitation.resent. An
// invitee whose identifiers match two different open invitations is
// ErrConflict.
func (m *Manager) Upsert(ctx context.Context, in CreateInput) (*UpsertResult, error) {
	now := m.now()
	// An update without a resend delivers nothing: validate it as such,
	// and leave the delivery checks to Create.
	asUpdate := in
	if !in.ResendOnUpdate {
		asUpdate.Delivery = DeliveryReturn
	}
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
			send := in.ResendOnUpdate && in.Delivery == DeliverySend
			rec, c, err := m.mutate(ctx, m.byID(want.TenantID, id), func(cur *Record, now time.Time) (change, error) {
				if _, err := check(OpUpdate, &cur.Invitation, now); err != nil {
					return change{}, err // closed or lapsed meanwhile: look again
				}
				next := cur.shallow()
				refresh(&next.Invitation, want, now)
				if !in.ResendOnUpdate {
					return write(next, EventUpdated, Actor{Kind: ActorAdmin}), nil
				}
				to, err := check(OpResend, &cur.Invitation, now)
				if err != nil {
					return change{}, err
				}
				next.Invitation.HasCode = next.Invitation.HasCode || in.WithCode
				return m.resendChange(cur, next, to, next.Invitation.ExpiresAt, send, ActorFrom(ctx, Actor{Kind: ActorAdmin}), now)
			})
			// ErrAlreadyExists: a concurrent Create took another of the
			// invitee's keys; look again (two open invitations: ErrConflict).
			if errors.Is(err, ErrInvalidTransition) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyExists) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if in.ResendOnUpdate {
				return &UpsertResult{Result: *m.resendResult(ctx, rec, c, send)}, nil
			}
			return &UpsertResult{Result: Result{Invitation: &rec.Invitation}}, nil
		default:
			return nil, fmt.Errorf("%w: the invitee matches open invitations %s and %s", ErrConflict,
				open[0].Invitation.ID, open[1].Invitation.ID)
		}
	}
	return nil, fmt.Errorf("%w: upsert kept racing with concurrent changes", ErrConflict)
}

// refresh copies the caller-controlled fields of want into inv and restarts
// the expiry (from now: IssuedAt); identity, state, secrets and history
// stay.
func refresh(inv *Invitation, want *Invitation, now time.Time) {
	keep := *inv
	*inv = *want
	inv.ID, inv.TenantID, inv.State, inv.Version = keep.ID, keep.TenantID, keep.State, keep.Version
	inv.CreatedAt, inv.SentAt, inv.SendCount = keep.CreatedAt, keep.SentAt, keep.SendCount
	inv.ResendCount, inv.LastResentAt = keep.ResendCount, keep.LastResentAt
	inv.HasCode, inv.IdempotencyKey = keep.HasCode, keep.IdempotencyKey
	inv.IssuedAt, inv.ExpiresAt = now, now.Add(want.ExpiresAt.Sub(want.CreatedAt))
}

// newRecord validates and normalises in (in place) and returns the record
// of the new invitation it describes, without secrets. The record owns
// copies of the input's slices and maps.
func (m *Manager) newRecord(in *CreateInput, now time.Time) (*Record, error) {
	validity, err := m.checkCreate(in, now)
	if err != nil {
		return nil, err
	}
	rec := &Record{Invitation: Invitation{
		ID: newID(now), TenantID: in.TenantID, Invitee: in.Invitee,
		GivenName: strings.TrimSpace(in.GivenName), FamilyName: strings.TrimSpace(in.FamilyName),
		Inviter: in.Inviter, AccountName: in.AccountName, Roles: in.Roles, Groups: in.Groups,
		Data: in.Data, FormData: in.FormData, Variables: in.Variables, Metadata: in.Metadata,
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
