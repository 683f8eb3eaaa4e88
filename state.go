package invite

import "time"

// State is where an invitation is in its lifecycle.
//
//	Create ──► pending ──deliver──► sent ──Resend──► sent (new secret, new expiry)
//	              │                  │
//	  Accept/Reject/Revoke     Accept/Reject/Revoke
//	              ▼                  ▼
//	    accepted | rejected | revoked            (terminal)
//	pending/sent past ExpiresAt ──► expired ──Resend──► sent (or pending)
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

// transitions is the one table of allowed moves. A state mapping to itself
// means the operation may rewrite the invitation without leaving the state
// (an update, or a resend of a sent invitation).
var transitions = map[State]map[State]bool{
	StatePending: {StatePending: true, StateSent: true, StateAccepted: true, StateRejected: true, StateRevoked: true, StateExpired: true},
	StateSent:    {StateSent: true, StatePending: true, StateAccepted: true, StateRejected: true, StateRevoked: true, StateExpired: true},
	StateExpired: {StateSent: true, StatePending: true},
	// accepted, rejected and revoked are terminal.
}

// CanTransition reports whether the table allows moving from one state to
// another.
func CanTransition(from, to State) bool { return transitions[from][to] }

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

// transition checks the table for the effective state at now and returns a
// *TransitionError when the move is not allowed.
func transition(inv *Invitation, now time.Time, to State) error {
	from := inv.StateAt(now)
	if !CanTransition(from, to) {
		return &TransitionError{ID: inv.ID, From: from, To: to}
	}
	return nil
}
