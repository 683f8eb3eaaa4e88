package invite

import (
	"context"
	"time"
)

// EventType names what happened to an invitation.
type EventType string

// The event types. Every change to an invitation emits exactly one of them.
const (
	EventCreated    EventType = "invitation.created"
	EventSent       EventType = "invitation.sent"
	EventResent     EventType = "invitation.resent"
	EventAccepted   EventType = "invitation.accepted"
	EventRejected   EventType = "invitation.rejected"
	EventRevoked    EventType = "invitation.revoked"
	EventExpired    EventType = "invitation.expired"
	EventUpdated    EventType = "invitation.updated"
	EventDeleted    EventType = "invitation.deleted"
	EventCodeFailed EventType = "invitation.code_failed"
)

// Event records one change. It carries the invitation before (Old, nil on
// create) and after (New, nil on delete) the change, and never a secret or
// the hash of one. ID is a UUIDv7: unique, time-ordered, the same on every
// delivery of the event, so receivers can deduplicate. Events may arrive
// out of order (a retried one after a later one): Version orders the
// events of one invitation.
type Event struct {
	ID           string    `json:"id"`
	Type         EventType `json:"type"`
	Time         time.Time `json:"time"`
	TenantID     string    `json:"tenant_id"`
	InvitationID string    `json:"invitation_id"`
	// Version is the invitation's version after the change (for a
	// deletion, the version deleted).
	Version int64       `json:"version"`
	Actor   Actor       `json:"actor"`
	Old     *Invitation `json:"old,omitempty"`
	New     *Invitation `json:"new,omitempty"`
}

// Actor is who caused a change.
type Actor struct {
	// Kind is "admin" for host calls (the default), "invitee" for accept,
	// reject and code attempts, "system" for sweeps.
	Kind string `json:"kind"`
	// ID is the host's id of the actor, when known (the accepting subject,
	// the admin user from WithActor).
	ID string `json:"id,omitempty"`
}

// Actor kinds.
const (
	ActorAdmin   = "admin"
	ActorInvitee = "invitee"
	ActorSystem  = "system"
)

type actorKey struct{}

// WithActor returns a context whose changes are attributed to a in events.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor set by WithActor, or def.
func ActorFrom(ctx context.Context, def Actor) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return def
}

// EventSink receives events after the change that caused them has been
// committed. Publish must not retain or modify the events after it returns
// unless it copies them. With a Store that implements Outbox, a Dispatcher
// calls it, one event per call, and retries an event whose Publish failed
// (the same Event.ID every time); with another Store the Manager calls it
// right after the write, and an error is only logged. It never undoes the
// change.
type EventSink interface {
	Publish(ctx context.Context, events []Event) error
}

// EventSinkFunc adapts a function to EventSink.
type EventSinkFunc func(ctx context.Context, events []Event) error

// Publish calls f.
func (f EventSinkFunc) Publish(ctx context.Context, events []Event) error { return f(ctx, events) }
