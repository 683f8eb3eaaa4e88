package invite

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Store persists invitations. Implementations must be safe for concurrent
// use. Every method is scoped by tenant except GetByTokenHash (the token is
// the capability; it names its own tenant) and the maintenance methods
// ListDue and Purge, which sweep all tenants.
//
// Returned records must be copies: the caller may modify them without
// changing stored state. Times are stored with at least microsecond precision
// (the Manager truncates every time it writes to microseconds) and returned in
// UTC.
//
// Tenant ids, invitation ids, idempotency keys and invitee keys compare
// byte for byte (a SQL store uses binary collations: "Acme" and "acme" are
// two tenants). Stores index the keys Invitee.Keys computes in Go (the email
// by EmailKey, ASCII letters lower-cased), and a store that indexes
// Filter.Search keeps the keys Invitation.NameKeys computes, never a
// database's own LOWER().
//
// storetest.Run is this contract made executable.
type Store interface {
	// Apply commits every write of b, in order, together with b.Events,
	// atomically: all of it or none of it.
	//
	// A write with Expect == 0 inserts Record. Apply must return an error
	// matching ErrAlreadyExists when the insert collides on the id (ids are
	// unique within a tenant; the Manager's UUIDv7 ids are unique
	// globally), on a token
	// hash (current or previous) of another record, on the idempotency key
	// within the tenant, or, when the record's State is open (pending or
	// sent), on an invitee key (Invitee.Keys) of another record of the tenant
	// whose stored State is open, whatever its expiry.
	//
	// A write with Expect > 0 replaces (or with Delete, removes) the record
	// with the same TenantID and ID. Apply must return ErrNotFound when no
	// such record exists in that tenant, and ErrConflict when its stored
	// Version differs from Expect. Record.Invitation.Version is Expect+1 on
	// updates. The uniqueness rules of inserts hold for updates too.
	//
	// Apply must not retain b (its slices) after it returns: the Manager
	// reuses batches. It may keep the Records, which the Manager does not
	// modify after handing them over.
	Apply(ctx context.Context, b *Batch) error

	// Get must return ErrNotFound when the tenant holds no invitation with
	// that id.
	Get(ctx context.Context, tenantID, id string) (*Record, error)

	// GetByTokenHash returns the record whose current token hash, or one of
	// whose previous token hashes, equals h. It must return ErrNotFound when
	// there is none.
	GetByTokenHash(ctx context.Context, h TokenHash) (*Record, error)

	// GetByIdempotencyKey must return ErrNotFound when the tenant holds no
	// invitation created with that key.
	GetByIdempotencyKey(ctx context.Context, tenantID, key string) (*Record, error)

	// FindOpen returns the records of the tenant whose stored State is open
	// (pending or sent, whatever their expiry) and that share at least one
	// invitee key with iv, oldest first. No match is an empty result, not an
	// error.
	FindOpen(ctx context.Context, tenantID string, iv Invitee) ([]*Record, error)

	// List returns the tenant's invitations matching q (Filter.Matches at
	// q.Now says which), ordered by (CreatedAt, ID) ascending (descending
	// when q.Descending), starting after q.After, skipping the first
	// q.Offset of those, at most q.Limit of them, and the cursor of the last
	// one returned when more may follow (nil at the end). States and expiry
	// filters apply to the effective state at q.Now.
	List(ctx context.Context, tenantID string, q Query) ([]*Invitation, *Cursor, error)

	// ListDue returns up to limit records, across tenants, whose stored State
	// is open and whose ExpiresAt is at or before now, soonest expiry first.
	ListDue(ctx context.Context, now time.Time, limit int) ([]*Record, error)

	// Purge deletes up to limit records, across tenants, whose stored State
	// is accepted, rejected, revoked or expired and whose ClosedAt is before
	// before, and returns how many it deleted.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
}

// Record is what a Store keeps: the invitation and its secret material.
type Record struct {
	Invitation  Invitation
	Credentials Credentials
}

// Clone returns a deep copy.
func (r *Record) Clone() *Record {
	c := *r
	c.Invitation.cloneCollections()
	c.Credentials = r.Credentials.Clone()
	return &c
}

// Credentials is the secret material of an invitation: hashes only, never a
// plaintext. It prints and marshals as redacted.
type Credentials struct {
	// TokenHash is the SHA-256 of the current link token.
	TokenHash TokenHash
	// PreviousTokens are earlier token hashes kept valid until their own
	// expiry (Config.KeepPreviousTokens).
	PreviousTokens []PreviousToken
	// CodeHash is the argon2id hash (PHC string) of the short code, if any.
	CodeHash []byte
	// CodeFailures counts failed code attempts since the code was minted.
	CodeFailures int
	// RequestDigest is the SHA-256 of the Create request that made the
	// invitation, kept when it had an IdempotencyKey: a retry with that
	// key must carry the same request (ErrIdempotencyMismatch otherwise).
	// Resends keep it.
	RequestDigest []byte
}

// PreviousToken is a superseded token hash that stays valid until ExpiresAt.
type PreviousToken struct {
	Hash      TokenHash
	ExpiresAt time.Time
}

// Clone returns a deep copy.
func (c Credentials) Clone() Credentials {
	c.PreviousTokens = slices.Clone(c.PreviousTokens)
	c.CodeHash = slices.Clone(c.CodeHash)
	c.RequestDigest = slices.Clone(c.RequestDigest)
	return c
}

// Format implements fmt.Formatter without the hashes, for every verb. (The
// one fmt path no Format method can intercept is %p of a non-pointer value:
// fmt then prints its fields. go vet reports that as a mistake; print a
// pointer, or an id.)
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "Credentials"+redacted) }

// Format implements fmt.Formatter without the hashes: the id, tenant and
// version, for every verb.
func (r Record) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "Record{ID:%s TenantID:%s Version:%d Credentials%s}",
		r.Invitation.ID, r.Invitation.TenantID, r.Invitation.Version, redacted)
}

// Format implements fmt.Formatter without the hashes, for every verb.
func (w Write) Format(f fmt.State, _ rune) {
	rec := "<nil>"
	if w.Record != nil {
		rec = fmt.Sprint(*w.Record)
	}
	_, _ = fmt.Fprintf(f, "Write{Record:%s Expect:%d Delete:%t Rotated:%t}", rec, w.Expect, w.Delete, w.Rotated)
}

// Format implements fmt.Formatter without the hashes, for every verb.
func (b Batch) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "Batch{Writes:[")
	for i, w := range b.Writes {
		if i > 0 {
			_, _ = io.WriteString(f, " ")
		}
		w.Format(f, 'v')
	}
	_, _ = fmt.Fprintf(f, "] Events:%d Messages:%d Delivered:%d}", len(b.Events), len(b.Messages), len(b.Delivered))
}

// Format implements fmt.Formatter without the hash, for every verb.
func (p PreviousToken) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "PreviousToken{TokenHash%s ExpiresAt:%s}", redacted, p.ExpiresAt.Format(time.RFC3339Nano))
}

// LogValue implements slog.LogValuer without the hashes.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler without the hashes.
func (c Credentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Batch is one atomic store write.
type Batch struct {
	Writes []Write
	// Events are the events the writes cause. A Store that implements
	// Outbox queues them in the same atomic write; for any other Store the
	// Manager hands them to Config.EventSink after Apply returns nil.
	Events []Event
	// Messages are the invitation messages the writes cause, for a Store
	// that implements Outbox to queue in the same atomic write (the Manager
	// sets none for another Store).
	Messages []QueuedMessage
	// Delivered names outbox entries (by id) this write settles by
	// removing them: the message whose delivery the write records. Only a
	// Store that implements Outbox is given any.
	Delivered []string
}

// Write is one record change inside a Batch.
type Write struct {
	Record *Record
	// Expect is the version the change was computed from: 0 inserts.
	Expect int64
	// Delete removes the record instead of replacing it.
	Delete bool
	// Rotated says that the update replaces the record's token hash (a new
	// secret). A Store may use it to skip work it does for the common
	// update that keeps the token hashes; it must write correctly either
	// way.
	Rotated bool
	// Prev, on an update, is the record as it was read at version Expect,
	// the one the change was computed from (the Manager sets it; nil when
	// unknown). A Store may compare it with Record to write only what
	// changed, but must not trust it: what it leaves unwritten must be
	// checked to be stored as Record has it (the write falls back to a
	// whole one otherwise), and it must write correctly without it. Apply
	// must not modify or retain it.
	Prev *Record
	// OpenLimit, on an insert of an invitation with an Inviter.ID, is the
	// most open invitations that inviter may hold in the tenant once the
	// batch is applied: a Store that implements OpenLimiter must refuse
	// the whole batch with an error matching ErrQuotaExceeded when the
	// inviter's invitations that are pending or sent and expire after the
	// inserted one's CreatedAt would number more, counting the batch's own
	// writes (an invitation the batch closes no longer counts), and must
	// make the count and the writes atomic: two batches racing at the
	// limit cannot both pass. 0 sets no limit.
	OpenLimit int
}

// OpenLimiter is an optional Store ability: its Apply enforces
// Write.OpenLimit. Config.MaxOpenPerInviter and CreateInput.InviterLimit
// need it.
type OpenLimiter interface {
	// EnforcesOpenLimit reports whether Apply enforces Write.OpenLimit.
	EnforcesOpenLimit() bool
}

// Cursor is a keyset position: the (CreatedAt, ID) of the last invitation of
// a page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// CursorOf returns the cursor positioned at inv.
func CursorOf(inv *Invitation) *Cursor { return &Cursor{CreatedAt: inv.CreatedAt, ID: inv.ID} }

// Less orders invitations by (CreatedAt, ID).
func (c Cursor) Less(o Cursor) bool {
	if !c.CreatedAt.Equal(o.CreatedAt) {
		return c.CreatedAt.Before(o.CreatedAt)
	}
	return c.ID < o.ID
}

// String encodes the cursor as an opaque URL-safe string.
func (c Cursor) String() string {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.CreatedAt.UnixMicro()))
	b = append(b, c.ID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor made by Cursor.String. A malformed cursor is
// a *ValidationError on the field "Cursor".
func ParseCursor(s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || len(b) > 8+MaxIDLen {
		return nil, &ValidationError{Fields: []FieldError{newFieldError("Cursor", "is malformed", nil)}}
	}
	us := int64(binary.BigEndian.Uint64(b))
	c := &Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: string(b[8:])}
	// Every store must be able to compare against it: a time in years
	// 1-9999 and an id that is valid text.
	if !storableTime(c.CreatedAt) || textProblem(c.ID, MaxIDLen, true) != "" {
		return nil, &ValidationError{Fields: []FieldError{newFieldError("Cursor", "is malformed", nil)}}
	}
	return c, nil
}

// storableTime reports whether every store can hold t: years 1 to 9999.
func storableTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}
