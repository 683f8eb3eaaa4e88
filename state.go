package invite

import (
	"fmt"
	"time"
)

// State is where an invitation is in its lifecycle.
//
//	Create ──► pending ──deliver──► sent ──Resend──► sent (new secret, new expiry)
//	              │                  │
//	  Accept/Reject/Revoke     Accept/Reject/Revoke
//	              ▼                  ▼
//	    accepted | rejected | revoked            (terminal)
//	pending/sent past ExpiresAt ──► expired ──Resend──► pending, then sent
//
// Expired is derived on every read: an open invitation past its ExpiresAt
// reads as expired at once, and ExpireDue materialises it (with its event).
type State string

// The states.
const (
	StatePending  State = "pending"
	StateSent     State = "sent"
	StateAccepted State = "accepted"
	StateRejected State = "rejected"
	StateRevoked  State = "revoked"
	StateExpired  State = "expired"
)

// States lists every state, in lifecycle order.
var States = []State{StatePending, StateSent, StateAccepted, StateRejected, StateRevoked, StateExpired}

// Operation is a change the Manager makes to an invitation. Each one is
// allowed only from the effective states the transition table lists for it
// (see Operation.Next); every Manager method that changes an invitation
// checks the table first, and an operation the table does not allow is a
// *TransitionError.
type Operation string

// The operations.
const (
	// OpAccept: the invitee accepts (Accept, AcceptCode), or an admin on
	// their behalf (AcceptByID). Lookup and
	// VerifyCode answer only for invitations the table lets the invitee
	// accept.
	OpAccept Operation = "accept"
	// OpReject: the invitee declines (Reject), or an admin records that
	// they did (RejectByID, which returns an invitation already rejected
	// as it is, without a write).
	OpReject Operation = "reject"
	// OpRevoke: an admin cancels (Revoke); an expired invitation may be
	// revoked too. Revoking a revoked invitation is not a move: it returns
	// the invitation as it is, without a write.
	OpRevoke Operation = "revoke"
	// OpResend: a new secret and a new expiry (Resend, UpdateAndResend,
	// and Upsert with ResendOnUpdate on an open one); an expired
	// invitation is renewed as pending.
	OpResend Operation = "resend"
	// OpUpdate: an admin edits an open invitation (Update, and Upsert on an
	// open one). The state stays.
	OpUpdate Operation = "update"
	// OpMarkSent: the invitation was delivered (MarkSent, and the Manager
	// after its Notifier succeeded).
	OpMarkSent Operation = "mark_sent"
	// OpExpire: an open invitation past its expiry is closed as expired
	// (ExpireDue, and Create or Upsert closing a lapsed invitation that
	// blocks them).
	OpExpire Operation = "expire"
	// OpSupersede: Create with Supersede revokes the invitee's open
	// invitation.
	OpSupersede Operation = "supersede"
	// OpDelete: an admin removes the invitation (Delete), from any state.
	OpDelete Operation = "delete"
	// OpForgetTokens: an admin invalidates the earlier tokens Resend kept
	// valid (ForgetPreviousTokens), from any state. The state stays.
	OpForgetTokens Operation = "forget_tokens"
	// OpCodeAttempt: a short code is checked (VerifyCode, AcceptCode) and
	// the answer committed: a failure counted, or a guard write. Only an
	// open invitation's code, or an accepted one's (which replays the
	// acceptance to its subject), is checked; at any other the guess is
	// refused unchecked. The state stays.
	OpCodeAttempt Operation = "code_attempt"
)

// Operations lists every operation.
var Operations = []Operation{OpAccept, OpReject, OpRevoke, OpResend, OpUpdate, OpMarkSent, OpExpire, OpSupersede, OpDelete,
	OpForgetTokens, OpCodeAttempt}

// transitions is the one table of allowed moves: for each operation, the
// effective states (Invitation.StateAt) it may start from, each with the
// state the operation leaves the invitation in.
var transitions = map[Operation]map[State]State{
	OpAccept:       {StatePending: StateAccepted, StateSent: StateAccepted},
	OpReject:       {StatePending: StateRejected, StateSent: StateRejected},
	OpRevoke:       {StatePending: StateRevoked, StateSent: StateRevoked, StateExpired: StateRevoked},
	OpResend:       {StatePending: StatePending, StateSent: StateSent, StateExpired: StatePending},
	OpUpdate:       {StatePending: StatePending, StateSent: StateSent},
	OpMarkSent:     {StatePending: StateSent, StateSent: StateSent},
	OpExpire:       {StateExpired: StateExpired},
	OpSupersede:    {StatePending: StateRevoked, StateSent: StateRevoked},
	OpDelete:       everyState,
	OpForgetTokens: everyState,
	OpCodeAttempt:  {StatePending: StatePending, StateSent: StateSent, StateAccepted: StateAccepted},
}

// everyState maps every state to itself: an operation allowed from any
// state that leaves it as it is.
var everyState = map[State]State{StatePending: StatePending, StateSent: StateSent, StateAccepted: StateAccepted,
	StateRejected: StateRejected, StateRevoked: StateRevoked, StateExpired: StateExpired}

// Next returns the state op leaves an invitation in when it starts from the
// effective state from, and whether the table allows op from there at all.
// (OpDelete leaves nothing behind; Next reports from for it.)
func (op Operation) Next(from State) (State, bool) {
	to, ok := transitions[op][from]
	return to, ok
}

// CanTransition reports whether some operation moves an invitation from one
// state to the other in its lifecycle. An operation that keeps the state
// (an update, or a resend of a sent invitation) counts as a move from a
// state to itself; OpDelete, OpForgetTokens and OpCodeAttempt are
// housekeeping, not moves.
func CanTransition(from, to State) bool {
	for _, op := range Operations {
		switch op {
		case OpDelete, OpForgetTokens, OpCodeAttempt:
			continue
		case OpExpire:
			// Keyed by the effective state, the table lets the sweep start
			// from "expired"; in the lifecycle it moves an open invitation
			// to expired.
			if from.Open() && to == StateExpired {
				return true
			}
			continue
		}
		if next, ok := op.Next(from); ok && next == to {
			return true
		}
	}
	return false
}

// check returns the state op leaves inv in at now, or a *TransitionError
// when the table does not allow op from inv's effective state. It is the
// one place the Manager consults the table.
func check(op Operation, inv *Invitation, now time.Time) (State, error) {
	from := inv.StateAt(now)
	to, ok := op.Next(from)
	if !ok {
		return "", &TransitionError{ID: inv.ID, Op: op, From: from, To: op.target()}
	}
	return to, nil
}

// target is where op leads from the first state of the lifecycle it may
// start from: the state a *TransitionError names as To.
func (op Operation) target() State {
	for _, s := range States {
		if to, ok := op.Next(s); ok {
			return to
		}
	}
	return ""
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateSent, StateAccepted, StateRejected, StateRevoked, StateExpired:
		return true
	}
	return false
}

// Open reports whether the invitation can still be accepted (pending or
// sent). It does not look at the expiry; see Invitation.StateAt.
func (s State) Open() bool { return s == StatePending || s == StateSent }

// Terminal reports whether no operation can leave s (accepted, rejected,
// revoked).
func (s State) Terminal() bool {
	return s == StateAccepted || s == StateRejected || s == StateRevoked
}

func (s State) String() string { return string(s) }

// StateAt returns the invitation's effective state at now: its stored state,
// except that an open invitation at or past ExpiresAt is StateExpired.
func (inv *Invitation) StateAt(now time.Time) State {
	if inv.State.Open() && !now.Before(inv.ExpiresAt) {
		return StateExpired
	}
	return inv.State
}

// TransitionError reports an operation that the transition table does not
// allow from the invitation's effective state. It matches
// ErrInvalidTransition, and also ErrExpired when From is StateExpired and
// ErrAlreadyAccepted when From is StateAccepted.
type TransitionError struct {
	ID string
	// Op is the operation refused ("" in an error built by hand).
	Op Operation
	// From is the invitation's effective state.
	From State
	// To is the state Op would have led to (from a pending invitation; for
	// OpExpire, expired).
	To State
	// Public is the invitation's public view, for a page that tells the
	// invitee it was already accepted, has expired or was revoked. Only
	// Lookup and LookupIn set it, whose caller proved to hold the
	// invitation's token; it is nil in every other error. Error() never
	// shows it, and it holds no secret.
	Public *PublicInvitation
}

// Error says what happened to the invitation, in words an invitee may be
// shown ("the invitation has expired"), and what was refused; it leaves
// the invitation's id out (the ID field has it).
func (e *TransitionError) Error() string {
	var was string
	switch e.From {
	case StateAccepted:
		was = "was already accepted"
	case StateRejected:
		was = "was declined"
	case StateRevoked:
		was = "was revoked"
	case StateExpired:
		was = "has expired"
	case StatePending:
		was = "has not been sent yet"
	case StateSent:
		was = "is still open"
	default:
		was = "is " + string(e.From)
	}
	verb := map[Operation]string{
		OpAccept: "accepted", OpReject: "declined", OpRevoke: "revoked", OpResend: "re-sent",
		OpUpdate: "changed", OpMarkSent: "marked sent", OpExpire: "expired", OpSupersede: "replaced",
		OpDelete: "deleted", OpForgetTokens: "changed", OpCodeAttempt: "used with a code",
	}[e.Op]
	switch {
	case e.From == StateAccepted && e.Op == OpAccept, e.From == StateRejected && e.Op == OpReject,
		e.From == StateRevoked && e.Op == OpRevoke:
		return "invite: the invitation was already " + verb
	case e.Op == "" && e.To != "":
		return fmt.Sprintf("invite: the invitation %s and cannot become %s", was, e.To)
	case verb == "":
		return "invite: the invitation " + was
	}
	return fmt.Sprintf("invite: the invitation %s and cannot be %s", was, verb)
}

// Is implements the matching described on the type.
func (e *TransitionError) Is(target error) bool {
	switch target {
	case ErrInvalidTransition:
		return true
	case ErrExpired:
		return e.From == StateExpired
	case ErrAlreadyAccepted:
		return e.From == StateAccepted
	}
	return false
}
