package invite

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error the library returns that a caller may want to
// branch on matches one of these with errors.Is. Stores translate their driver
// errors into ErrNotFound, ErrAlreadyExists and ErrConflict.
var (
	// ErrNotFound: no invitation with that id (or token, or idempotency key)
	// exists in the tenant. Another tenant's invitation is ErrNotFound too.
	ErrNotFound = errors.New("invite: not found")
	// ErrAlreadyExists: the invitee already has an open invitation in the
	// tenant (or an id, token hash or idempotency key collides).
	ErrAlreadyExists = errors.New("invite: already exists")
	// ErrConflict: the invitation changed since the version the caller
	// computed its change from (optimistic concurrency). An operation that
	// reads the invitation itself re-reads and retries a lost race up to
	// eight times, so it returns a lost race as ErrConflict only when more
	// than eight concurrent changes of one invitation beat it; calling it
	// again is safe.
	ErrConflict = errors.New("invite: version conflict")
	// ErrQuotaExceeded: the inviter already holds as many open
	// invitations as its limit allows (Config.MaxOpenPerInviter,
	// CreateInput.InviterLimit); errors.As to *QuotaError for the limit.
	// Nothing was created.
	ErrQuotaExceeded = errors.New("invite: the inviter has reached the limit of open invitations")
	// ErrIdempotencyMismatch: an idempotency key was used again with a
	// different request (another invitee): the first request's invitation
	// is not returned for it.
	ErrIdempotencyMismatch = errors.New("invite: idempotency key reused for a different request")
	// ErrInvalid: the input failed validation; errors.As to *ValidationError
	// for the list of bad fields.
	ErrInvalid = errors.New("invite: invalid input")
	// ErrInvalidTransition: the operation is not allowed from the
	// invitation's current state; errors.As to *TransitionError for both states.
	ErrInvalidTransition = errors.New("invite: invalid state transition")
	// ErrExpired: the invitation is past its expiry.
	ErrExpired = errors.New("invite: invitation expired")
	// ErrAlreadyAccepted: the invitation was accepted by another subject.
	ErrAlreadyAccepted = errors.New("invite: invitation already accepted")
	// ErrInvalidToken: the token is malformed (prefix, length, alphabet or
	// checksum), or matches no invitation. Malformed tokens are rejected
	// without touching the store.
	ErrInvalidToken = errors.New("invite: invalid token")
	// ErrInvalidCode: the short code does not match.
	ErrInvalidCode = errors.New("invite: invalid code")
	// ErrCodeLocked: too many failed attempts; the short code is dead (the
	// link token, if any, still works; Resend mints a new code). It also
	// matches ErrInvalidCode: test for it first to tell the two apart.
	ErrCodeLocked error = codeLocked{}
	// ErrEmailMismatch: acceptance is bound to the invited email and the
	// accepting subject's email differs. The invitation is not consumed.
	ErrEmailMismatch = errors.New("invite: email does not match the invitation")
	// ErrSubjectMismatch: the invitation was addressed to an existing user id
	// and another subject tried to accept it. The invitation is not consumed.
	ErrSubjectMismatch = errors.New("invite: subject does not match the invited user")
	// ErrNoDeliveryChannel: delivery was requested but the invitee has no
	// email, phone or user id to deliver to.
	ErrNoDeliveryChannel = errors.New("invite: no delivery channel")
	// ErrUnknownTemplate: the template key is not one of Config.TemplateKeys.
	ErrUnknownTemplate = errors.New("invite: unknown template key")
	// ErrDelivery: the notifier failed. The state change that requested the
	// delivery has been committed; the invitation stays pending.
	ErrDelivery = errors.New("invite: delivery failed")
)

// FieldError is one invalid field of an input. Path and Pointer give its
// location in the input's JSON form; it encodes to JSON as {"path",
// "pointer", "code", "reason"}.
type FieldError struct {
	// Field is the input field's Go name, dotted for nested fields, with
	// list indexes and quoted map keys in brackets ("Invitee.Email",
	// "Roles[2]", `Data["plan"]`).
	Field string
	// Reason says what is wrong, in words for a person, without echoing
	// secret values.
	Reason string
	// Code is the kind of problem, one of the Code constants (CodeRequired,
	// CodeTooLong, ...), stable for clients to branch on. The library sets
	// it on every field error it builds; an empty Code (a FieldError built
	// elsewhere) means CodeInvalid.
	Code string
	// Err is an optional sentinel the field error also matches
	// (ErrNoDeliveryChannel, ErrUnknownTemplate).
	Err error
}

func (f FieldError) Error() string { return f.Field + ": " + f.Reason }

// ValidationError lists the invalid fields of an input: every one, up to
// MaxFieldErrors. It matches ErrInvalid, and every sentinel carried by one
// of its fields.
type ValidationError struct {
	Fields []FieldError
	// More counts the invalid fields left out after the first
	// MaxFieldErrors.
	More int
}

// MaxFieldErrors bounds the fields a *ValidationError lists, so that an
// input with a hundred thousand bad keys yields a short error.
const MaxFieldErrors = 50

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invite: invalid input: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	if e.More > 0 {
		b.WriteString("; and " + strconv.Itoa(e.More) + " more")
	}
	return b.String()
}

// Is reports whether target is ErrInvalid or a sentinel of one of the fields.
func (e *ValidationError) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	for _, f := range e.Fields {
		if f.Err != nil && errors.Is(f.Err, target) {
			return true
		}
	}
	return false
}

// Has reports whether field is among the invalid fields.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// fieldErrs accumulates field errors during validation: the first
// MaxFieldErrors, and a count of the rest.
type fieldErrs struct {
	list []FieldError
	more int
}

func (fe *fieldErrs) add(field, reason string) { fe.addErr(field, reason, nil) }

// addNamed is add for a field whose name costs something to build (it
// quotes a key): name runs only while the list has room.
func (fe *fieldErrs) addNamed(name func() string, reason string) {
	if len(fe.list) == MaxFieldErrors {
		fe.more++
		return
	}
	fe.add(name(), reason)
}

func (fe *fieldErrs) addErr(field, reason string, err error) {
	if len(fe.list) == MaxFieldErrors {
		fe.more++
		return
	}
	fe.list = append(fe.list, newFieldError(field, reason, err))
}

func (fe *fieldErrs) err() error {
	if len(fe.list) == 0 {
		return nil
	}
	return &ValidationError{Fields: fe.list, More: fe.more}
}

// ExistsError is the ErrAlreadyExists of a Create refused because the
// invitee already has an open invitation: ID names it, so that a host can
// offer to resend that one instead.
type ExistsError struct {
	// TenantID and ID identify the open invitation in the way.
	TenantID, ID string
}

func (e *ExistsError) Error() string {
	return "invite: the invitee already has an open invitation"
}

// Is reports whether target is ErrAlreadyExists.
func (e *ExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// QuotaError is the ErrQuotaExceeded of a Create refused by the
// inviter's limit of open invitations.
type QuotaError struct {
	TenantID, InviterID string
	// Limit is the limit that refused the invitation.
	Limit int
}

func (e *QuotaError) Error() string {
	return "invite: the inviter has reached the limit of " + itoa(e.Limit) + " open invitations"
}

// Is reports whether target is ErrQuotaExceeded.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

// codeLocked is ErrCodeLocked: an error of its own so that it can match
// ErrInvalidCode too.
type codeLocked struct{}

func (codeLocked) Error() string { return "invite: code locked after too many failed attempts" }

// Is reports whether target is ErrInvalidCode.
func (codeLocked) Is(target error) bool { return target == ErrInvalidCode }
