package invitehttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// kind is one kind of problem: its "type" (after Config.ProblemTypeBase),
// status and title.
type kind struct {
	name   string
	status int
	title  string
}

// The problem kinds. problems.md documents each under its name.
var (
	kindMalformed        = kind{"malformed-request", 400, "The request is malformed"}
	kindInvalidCode      = kind{"invalid-code", 400, "The code is not valid"}
	kindUnauthenticated  = kind{"unauthenticated", 401, "Sign-in required"}
	kindForbidden        = kind{"forbidden", 403, "Not allowed"}
	kindEmailMismatch    = kind{"email-mismatch", 403, "The invitation is for another email address"}
	kindSubjectMismatch  = kind{"subject-mismatch", 403, "The invitation is for another user"}
	kindNotFound         = kind{"not-found", 404, "Not found"}
	kindInvalidToken     = kind{"invalid-token", 404, "No such invitation"}
	kindMethod           = kind{"method-not-allowed", 405, "Method not allowed"}
	kindAlreadyExists    = kind{"already-exists", 409, "The invitee already has an open invitation"}
	kindVersionConflict  = kind{"version-conflict", 409, "The invitation changed meanwhile"}
	kindTransition       = kind{"invalid-transition", 409, "The invitation is not in a state that allows this"}
	kindQuota            = kind{"quota-exceeded", 409, "The inviter has reached the limit of open invitations"}
	kindExpired          = kind{"expired", 410, "The invitation has expired"}
	kindAccepted         = kind{"already-accepted", 410, "The invitation was already accepted"}
	kindRevoked          = kind{"revoked", 410, "The invitation was revoked"}
	kindRejected         = kind{"rejected", 410, "The invitation was declined"}
	kindPrecondition     = kind{"precondition-failed", 412, "The invitation is not at the version given"}
	kindTooLarge         = kind{"payload-too-large", 413, "The body is too large"}
	kindUnsupportedMedia = kind{"unsupported-media-type", 415, "Unsupported media type"}
	kindValidation       = kind{"validation", 422, "The request has invalid fields"}
	kindIdempotency      = kind{"idempotency-mismatch", 422, "The idempotency key was used for another request"}
	kindRateLimited      = kind{"rate-limited", 429, "Too many requests"}
	kindInternal         = kind{"internal", 500, "Internal error"}
	kindNotImplemented   = kind{"not-implemented", 501, "Not supported by this server's store"}
	kindUnavailable      = kind{"unavailable", 503, "Temporarily unavailable"}
	allKinds             = []kind{kindMalformed, kindInvalidCode, kindUnauthenticated, kindForbidden, kindEmailMismatch, kindSubjectMismatch, kindNotFound, kindInvalidToken, kindMethod, kindAlreadyExists, kindVersionConflict, kindTransition, kindQuota, kindExpired, kindAccepted, kindRevoked, kindRejected, kindPrecondition, kindTooLarge, kindUnsupportedMedia, kindValidation, kindIdempotency, kindRateLimited, kindInternal, kindNotImplemented, kindUnavailable}
)

// ProblemTypes maps every problem kind the handler answers with (the part
// of "type" after Config.ProblemTypeBase) to its status: "validation" to
// its default, 422, which Config.InvalidStatus may make 400.
func ProblemTypes() map[string]int {
	m := make(map[string]int, len(allKinds))
	for _, k := range allKinds {
		m[k.name] = k.status
	}
	return m
}

// problem is an RFC 9457 problem details document, with this API's
// extension members.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists the fields (or query or path parameters) at fault.
	Errors []problemField `json:"errors,omitempty"`
	// MoreErrors counts the invalid fields left out of Errors.
	MoreErrors int `json:"more_errors,omitempty"`
	// ExistingID names the tenant's open invitation that blocks a create
	// (already-exists).
	ExistingID string `json:"existing_id,omitempty"`
	// Limit is the inviter's limit of open invitations (quota-exceeded).
	Limit int `json:"limit,omitempty"`
	// State is the invitation's state, when a transition was refused.
	State invite.State `json:"state,omitempty"`
	// Invitation is the public view of a closed invitation, on a lookup
	// by its token.
	Invitation *invite.PublicInvitation `json:"invitation,omitempty"`

	retryAfter time.Duration
	allow      string
	err        error // logged for a 5xx, never sent
}

// problemField is one entry of a problem's errors: where (a JSON pointer
// into the body, or the name of a query or path parameter), a stable code
// and a reason for a person.
type problemField struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
}

// newProblem is a problem of kind k; a validation problem has the status
// Config.InvalidStatus.
func (h *handler) newProblem(k kind, detail string) *problem {
	status := k.status
	if k == kindValidation && h.cfg.InvalidStatus != 0 {
		status = h.cfg.InvalidStatus
	}
	return &problem{Type: h.cfg.ProblemTypeBase + k.name, Title: k.title, Status: status, Detail: detail}
}

// place says where a field of a *ValidationError is in the request: the
// name of a parameter (the path's or the query's), or the Go field whose
// JSON pointer locates it in the body.
type place func(field string) (name string, isParam bool)

// inBody is the place of a field of a body-decoded input: the tenant and
// id come from the path, everything else from the body.
func inBody(field string) (string, bool) {
	switch field {
	case "TenantID":
		return "tenant", true
	case "ID":
		return "id", true
	}
	return field, false
}

// errorContext is what classify needs of the request beyond the error.
type errorContext struct {
	public  bool  // an invitee's endpoint: every closed invitation is 410
	ifMatch bool  // the request had If-Match: a version conflict is 412
	place   place // nil: inBody
}

// classify maps an error of the Manager (or of a host hook) to its problem.
func (h *handler) classify(err error, ec errorContext) *problem {
	if ec.place == nil {
		ec.place = inBody
	}
	if ve, ok := errors.AsType[*invite.ValidationError](err); ok {
		p := h.newProblem(kindValidation, "")
		for _, f := range ve.Fields {
			p.Errors = append(p.Errors, fieldEntry(f, ec.place))
		}
		p.MoreErrors = ve.More
		n := len(ve.Fields) + ve.More
		p.Detail = "the request has " + strconv.Itoa(n) + " invalid field" + map[bool]string{true: "", false: "s"}[n == 1] +
			": each is listed in errors, with what to change"
		return p
	}
	if te, ok := errors.AsType[*invite.TransitionError](err); ok {
		return h.transitionProblem(te, ec.public)
	}
	if ee, ok := errors.AsType[*invite.ExistsError](err); ok {
		p := h.newProblem(kindAlreadyExists, "the invitee already has an open invitation in this tenant (existing_id); resend or update it, or create with supersede")
		p.ExistingID = ee.ID
		return p
	}
	if qe, ok := errors.AsType[*invite.QuotaError](err); ok {
		p := h.newProblem(kindQuota, "the inviter holds as many open invitations as allowed; revoke one or wait for answers")
		p.Limit = qe.Limit
		return p
	}
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return h.newProblem(kindUnauthenticated, "sign in and send the request again")
	case errors.Is(err, ErrForbidden):
		return h.newProblem(kindForbidden, "you may not do this here")
	case errors.Is(err, invite.ErrInvalidToken):
		return h.newProblem(kindInvalidToken, "the link is not valid: check that it was copied whole, or ask for a new invitation")
	case errors.Is(err, invite.ErrNotFound):
		return h.newProblem(kindNotFound, "no such invitation in this tenant")
	case errors.Is(err, invite.ErrIdempotencyMismatch):
		return h.newProblem(kindIdempotency, "this Idempotency-Key was first used with another request body; use a new key for a new request")
	case errors.Is(err, invite.ErrConflict) && ec.ifMatch:
		return h.newProblem(kindPrecondition, "the invitation changed since the version in If-Match: read it again and retry")
	case errors.Is(err, invite.ErrConflict):
		return h.newProblem(kindVersionConflict, "the invitation changed meanwhile: read it again and retry")
	case errors.Is(err, invite.ErrAlreadyExists):
		return h.newProblem(kindAlreadyExists, "an invitation with these identifiers already exists")
	case errors.Is(err, invite.ErrQuotaExceeded):
		return h.newProblem(kindQuota, "the inviter holds as many open invitations as allowed")
	case errors.Is(err, invite.ErrExpired):
		return h.newProblem(kindExpired, "the invitation has expired; ask for a new one")
	case errors.Is(err, invite.ErrAlreadyAccepted):
		return h.newProblem(kindAccepted, "the invitation was already accepted by someone else")
	case errors.Is(err, invite.ErrEmailMismatch):
		return h.newProblem(kindEmailMismatch, "the invitation can only be accepted with the email address it was sent to; sign in with that one")
	case errors.Is(err, invite.ErrSubjectMismatch):
		return h.newProblem(kindSubjectMismatch, "the invitation is addressed to another user; sign in as that user")
	case errors.Is(err, invite.ErrInvalidCode):
		return h.newProblem(kindInvalidCode, "the code is wrong, has expired or can no longer be used; check it, or ask for a new one")
	case errors.Is(err, invite.ErrNoCounter), errors.Is(err, invite.ErrNoOutbox):
		return h.newProblem(kindNotImplemented, "this server's store does not support the request")
	}
	if h.cfg.Retryable != nil && h.cfg.Retryable(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		p := h.newProblem(kindUnavailable, "the request could not be completed now; send it again shortly")
		p.retryAfter, p.err = h.cfg.RetryAfter, err
		return p
	}
	p := h.newProblem(kindInternal, "the server failed to complete the request")
	p.err = err
	return p
}

// transitionProblem is the problem of a refused state change: 410 for an
// invitation that is gone for the invitee (expired, accepted, revoked; and
// on the invitee's endpoints declined too), 409 otherwise.
func (h *handler) transitionProblem(te *invite.TransitionError, public bool) *problem {
	k := kindTransition
	switch te.From {
	case invite.StateExpired:
		k = kindExpired
	case invite.StateAccepted:
		k = kindAccepted
	case invite.StateRevoked:
		k = kindRevoked
	case invite.StateRejected:
		if public {
			k = kindRejected
		}
	}
	p := h.newProblem(k, strings.TrimPrefix(te.Error(), "invite: "))
	p.State, p.Invitation = te.From, te.Public
	return p
}

// fieldEntry is the errors entry of a field error.
func fieldEntry(f invite.FieldError, at place) problemField {
	code := f.Code
	if code == "" {
		code = invite.CodeInvalid
	}
	e := problemField{Code: code, Reason: f.Reason}
	name, isParam := at(f.Field)
	if isParam {
		e.Parameter = name
	} else {
		f.Field = name
		e.Pointer = f.Pointer()
	}
	return e
}

// writeProblem sends p.
func (h *handler) writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	if p.Status >= 500 && p.err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "invitehttp: request failed", "method", r.Method,
			"route", r.Pattern, "status", p.Status, "error", p.err.Error())
	}
	hd := w.Header()
	if p.retryAfter > 0 {
		hd.Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized {
		hd.Set("WWW-Authenticate", h.cfg.Challenge)
	}
	if p.allow != "" {
		hd.Set("Allow", p.allow)
	}
	hd.Del("ETag")
	hd.Del("Location")
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"title":"Internal error","status":500}`)
	}
	hd.Set("Content-Type", "application/problem+json")
	hd.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError sends err's problem.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error, ec errorContext) {
	h.writeProblem(w, r, h.classify(err, ec))
}
