package invite

import (
	"context"
	"time"
)

// OutboxKind is what an outbox entry delivers.
type OutboxKind string

// The outbox kinds.
const (
	// OutboxEvent entries hold an Event for Config.EventSink.
	OutboxEvent OutboxKind = "event"
	// OutboxMessage entries name an invitation message for Config.Notifier.
	OutboxMessage OutboxKind = "message"
)

// Valid reports whether k is one of the kinds above.
func (k OutboxKind) Valid() bool { return k == OutboxEvent || k == OutboxMessage }

// QueuedMessage names an invitation message to deliver. It holds no
// secret: the plaintext is never stored, so whoever delivers the message
// after the call that queued it has returned mints a fresh secret for it.
type QueuedMessage struct {
	// ID is the message id (Message.ID), the same on every attempt: the key
	// receivers deduplicate on. It is also the outbox entry's id.
	ID           string
	TenantID     string
	InvitationID string
	// Resend is true when Resend queued the message.
	Resend bool
	// ResendCount is the invitation's ResendCount when the message was
	// queued. A message whose invitation has been re-sent since (a higher
	// count) is stale: the newer message replaces it.
	ResendCount int
	// CreatedAt is when the message was queued.
	CreatedAt time.Time
	// AvailableAt is when a dispatcher may first claim it: later than
	// CreatedAt when the Manager makes an attempt of its own first.
	AvailableAt time.Time
}

// OutboxEntry is one durable delivery: an event to publish or a message to
// send, with its delivery state.
type OutboxEntry struct {
	// ID is the event's id (OutboxEvent) or the message's (OutboxMessage).
	ID           string
	Kind         OutboxKind
	TenantID     string
	InvitationID string
	CreatedAt    time.Time
	// Event is the event to publish (OutboxEvent).
	Event *Event
	// Message is the message to send (OutboxMessage).
	Message *QueuedMessage

	// Attempts counts the claims of the entry (each claim is an attempt).
	Attempts int
	// AvailableAt is when the entry is next due; while it is claimed, the
	// end of the claim's lease.
	AvailableAt time.Time
	// Owner is the dispatcher holding (or that last held) the claim.
	Owner string
	// LastError is the last failure, if any.
	LastError string
	// DeliveredAt is set once the entry is settled as delivered (or
	// dropped: its invitation no longer wanted it).
	DeliveredAt time.Time
	// DeadAt is set once the entry is dead-lettered.
	DeadAt time.Time
}

// Outbox is an optional Store ability: a durable queue of the events and
// messages each Batch causes, written in the same atomic write as the
// batch's records. The Manager detects it by type assertion; with it,
// events and messages are delivered at least once by a Dispatcher,
// whatever crashes in between. Without it, the Manager sends and publishes
// right after each write, and a crash in between loses them.
//
// An Outbox keeps, per entry, the fields of OutboxEntry. Its Apply must:
//
//   - queue one OutboxEvent entry per Batch.Events (ID the event's id,
//     AvailableAt the event's Time) and one OutboxMessage entry per
//     Batch.Messages, with Attempts 0, in the same atomic write;
//   - remove every entry named by Batch.Delivered, whoever holds its
//     claim, before queueing the batch's own entries: the write records
//     the delivery itself (the invitation is marked sent), so the entry
//     has nothing left to do; an unknown id is ignored;
//   - on a Write with Delete, remove the invitation's entries queued by
//     earlier batches, except its events still owed to the sink (neither
//     delivered nor dead): its messages (nothing is left to send), and its
//     delivered and dead events (they hold the invitee's data). The
//     deletion's own event, queued by this batch, stays.
//
// Purge must also remove every entry of the invitations it purges.
//
// An entry is due when it is neither delivered nor dead and its AvailableAt
// is at or before the time asked about. Times are kept to the microsecond.
//
// Every method checks its input before it reads or changes anything, and
// a call it refuses changes nothing: a refused Apply writes none of its
// Writes or entries and removes none of its Delivered. An identifier is
// non-empty, valid UTF-8 without control characters (unicode.IsControl:
// C0 with NUL, DEL and C1), and at most 255 bytes long for an entry id (an
// event's or a message's ID, a Delivered id, a settlement's ID, a
// re-driven id, a non-empty after) or 1024 bytes for a tenant id, an
// invitation id and an owner. An identifier that breaks this rule, an
// unknown kind or Outcome, a limit below 1, a lease that is not positive,
// a message's negative ResendCount and an id settled twice in one
// SettleOutbox call are an *ValidationError (it matches ErrInvalid)
// listing every bad field, named after the argument or the Batch field:
// "owner", "kinds[1]", "limit", "lease", "tenantID", "after", "ids[2]",
// "settlements[0].ID" and "settlements[0].Outcome" (for s[0]),
// "Events[0].ID" (and .TenantID, .InvitationID), "Messages[0].ID" (and
// .TenantID, .InvitationID, .ResendCount) and "Delivered[0]". Apply
// refuses with ErrAlreadyExists a
// batch that queues two entries under one id (two events, two messages,
// or one of each), one under an id its Delivered names, or one under the
// id of an entry the outbox holds when the batch starts, whatever the
// entry's state. (A batch should not reuse the id of an entry its Delete
// forgets either: stores differ on whether that id is free.)
//
// storetest.RunOutbox is this contract made executable.
type Outbox interface {
	// ClaimOutbox claims up to limit due entries of the given kinds (all
	// kinds when kinds is empty), soonest AvailableAt first, for owner:
	// each claimed entry's Owner becomes owner, its Attempts grows by one
	// and its AvailableAt becomes now+lease. It returns them as claimed.
	// While a lease holds, no other call may claim the entry again: two
	// concurrent ClaimOutbox calls never return the same entry (on SQL,
	// SELECT ... FOR UPDATE SKIP LOCKED). An entry whose lease ran out is
	// due again, and is claimed anew, with one more attempt.
	ClaimOutbox(ctx context.Context, owner string, kinds []OutboxKind, now time.Time, lease time.Duration, limit int) ([]*OutboxEntry, error)

	// SettleOutbox records the outcome of claimed entries. Each settlement
	// applies only while its entry is still held by owner with the
	// settlement's Attempt (the claim it answers): a claim that ran out and
	// was taken by another owner, or claimed again, is left alone. It
	// returns how many settlements applied.
	SettleOutbox(ctx context.Context, owner string, now time.Time, s []Settlement) (int, error)

	// ListDeadOutbox returns up to limit dead-lettered entries of the
	// tenant, ordered by ID, starting after the id after ("" from the
	// start).
	ListDeadOutbox(ctx context.Context, tenantID, after string, limit int) ([]*OutboxEntry, error)

	// RedriveOutbox makes the tenant's dead-lettered entries with the given
	// ids due again at now, with Attempts 0 and no owner (LastError stays),
	// and returns how many it revived. Ids that are not dead entries of the
	// tenant are ignored.
	RedriveOutbox(ctx context.Context, tenantID string, ids []string, now time.Time) (int, error)

	// PurgeOutbox deletes up to limit entries, across tenants, that were
	// delivered before before, and returns how many it deleted.
	PurgeOutbox(ctx context.Context, before time.Time, limit int) (int, error)

	// OutboxStats counts the entries, across tenants, that are pending
	// (neither delivered nor dead, claimed or not) and dead, and returns
	// the CreatedAt of the oldest pending one (zero when none is pending).
	OutboxStats(ctx context.Context) (OutboxStats, error)
}

// OutboxStats is what Outbox.OutboxStats reports.
type OutboxStats struct {
	Pending       int
	Dead          int
	OldestPending time.Time
}

// Outcome is how a claimed outbox entry ended.
type Outcome int

// The outcomes.
const (
	// Delivered: the event was published or the message handed to its
	// transport, or the entry was dropped because nothing is left to
	// deliver (its invitation was accepted, revoked, deleted or re-sent).
	Delivered Outcome = iota + 1
	// Retry: the attempt failed; the entry is due again at At.
	Retry
	// Dead: the entry is dead-lettered and waits for a re-drive.
	Dead
	// Release: the claim is given back unused (a dispatcher stopping): the
	// entry is due again at At, and the attempt does not count (Attempts
	// goes back down by one).
	Release
)

// Settlement is the outcome of one claimed entry, for SettleOutbox.
type Settlement struct {
	ID string
	// Attempt is the entry's Attempts as claimed: it identifies the claim.
	Attempt int
	Outcome Outcome
	// At is when a Retry or Release is due again.
	At time.Time
	// Error is the failure to keep in LastError (Retry and Dead; for a
	// dropped entry, why it was dropped). "" leaves LastError as it was.
	Error string
}

// HostTransaction is an optional Store ability: a Store working inside a
// transaction that its caller commits (sqlstore's WithTx) reports true.
// The Manager then sends and publishes nothing itself, since the host may
// still roll back: with an Outbox, a Dispatcher delivers what the write
// queued once the host has committed, and never what it rolled back.
//
// Such a store should also be an Outbox. Without one, a write carrying
// events for Config.EventSink is refused before anything is written
// (ErrNoOutbox), and a send returns its secret in the Result with
// Result.DeliveryErr matching ErrNoOutbox, for the caller to deliver after
// the commit (then MarkSent).
type HostTransaction interface {
	InHostTransaction() bool
}
