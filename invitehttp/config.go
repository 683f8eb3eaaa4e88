package invitehttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// Action names what a request asks for: one per endpoint, and one per
// state change that PATCH can make. Config.Authorize and Config.RateLimit
// receive it.
type Action string

// The actions. Admin actions act on one tenant's invitations; public
// actions are the invitee's.
const (
	ActionCreate      Action = "create"       // POST   /tenants/{tenant}/invitations
	ActionCreateBatch Action = "create_batch" // POST   /tenants/{tenant}/invitations/batch
	ActionUpsert      Action = "upsert"       // PUT    /tenants/{tenant}/invitations
	ActionList        Action = "list"         // GET    /tenants/{tenant}/invitations
	ActionListUser    Action = "list_user"    // GET    /tenants/{tenant}/users/{user}/invitations
	ActionGet         Action = "get"          // GET    /tenants/{tenant}/invitations/{id}
	ActionUpdate      Action = "update"       // PATCH  /tenants/{tenant}/invitations/{id}, edits only
	ActionResend      Action = "resend"       // PATCH  with "resend" (and edits, if any)
	ActionRevoke      Action = "revoke"       // PATCH  with "state": "revoked"
	ActionAdminAccept Action = "admin_accept" // PATCH  with "state": "accepted"
	ActionAdminReject Action = "admin_reject" // PATCH  with "state": "rejected"
	ActionMarkSent    Action = "mark_sent"    // PATCH  with "state": "sent"
	ActionDelete      Action = "delete"       // DELETE /tenants/{tenant}/invitations/{id}
	ActionDeadLetters Action = "dead_letters" // GET    /tenants/{tenant}/dead-letters
	ActionRedrive     Action = "redrive"      // POST   /tenants/{tenant}/dead-letters/redrive

	ActionLookup     Action = "lookup"      // GET  /public/invitations/{token}
	ActionAccept     Action = "accept"      // POST /public/invitations/{token}/accept
	ActionReject     Action = "reject"      // POST /public/invitations/{token}/reject
	ActionVerifyCode Action = "verify_code" // POST /public/tenants/{tenant}/codes/verify
	ActionAcceptCode Action = "accept_code" // POST /public/tenants/{tenant}/codes/accept
)

// Actions lists every action.
var Actions = []Action{ActionCreate, ActionCreateBatch, ActionUpsert, ActionList, ActionListUser, ActionGet,
	ActionUpdate, ActionResend, ActionRevoke, ActionAdminAccept, ActionAdminReject, ActionMarkSent, ActionDelete,
	ActionDeadLetters, ActionRedrive, ActionLookup, ActionAccept, ActionReject, ActionVerifyCode, ActionAcceptCode}

// Public reports whether a is one of the invitee's actions (served under
// /public/, rate limited by Config.RateLimit).
func (a Action) Public() bool {
	switch a {
	case ActionLookup, ActionAccept, ActionReject, ActionVerifyCode, ActionAcceptCode:
		return true
	}
	return false
}

// Refusals the host's hooks wrap (or return) to choose the status: an
// error matching ErrUnauthenticated is 401 (the caller is not signed in),
// any other error from Authorize is 403 (ErrForbidden, for one: signed
// in, but not allowed). The error's text is never sent.
var (
	ErrUnauthenticated = errors.New("invitehttp: not authenticated")
	ErrForbidden       = errors.New("invitehttp: forbidden")
)

// Subject is the signed-in user who accepts an invitation, as the host's
// session knows them.
type Subject struct {
	// ID is the host's id of the user (new or existing). Required.
	ID string
	// Email is the user's verified email, checked when acceptance is bound
	// to the invited email; "" when the host has none verified.
	Email string
}

// Config configures the handler New returns. Only Manager and Authorize
// are required.
type Config struct {
	// Manager serves every request. Required.
	Manager *invite.Manager

	// Authorize decides whether the request may do action in tenant. It
	// runs before anything is read or changed (for PATCH, once the body
	// is read, with the action the body asks for). A nil error allows it;
	// an error matching ErrUnauthenticated is 401, any other 403. For a
	// public action on a token, tenant is what Tenant resolved ("" by
	// default: the token names its tenant). Required: AllowAll allows
	// everything, for a handler behind the host's own checks.
	Authorize func(r *http.Request, tenant string, action Action) error

	// Tenant resolves the tenant of a request. Default: the {tenant}
	// segment of the path ("" for the token routes, which have none). A
	// host that knows the tenant otherwise (a subdomain, the session)
	// returns it; on the token routes a non-empty tenant pins the token
	// to that tenant (another tenant's token is 404 and is not used). An
	// error matching ErrUnauthenticated or ErrForbidden is 401 or 403, any
	// other 404 (no such tenant).
	Tenant func(r *http.Request) (string, error)

	// BeforeCreate, when set, runs on every decoded create, upsert and
	// batch item before the Manager sees it: the host sets what the client
	// may not choose (the Inviter from its session, an InviterLimit per
	// plan) or refuses the input (its error is answered as any other:
	// ErrForbidden is 403, a *invite.ValidationError InvalidStatus, 422
	// by default). Without it the body's inviter is taken as sent.
	// Default: nil.
	BeforeCreate func(r *http.Request, in *invite.CreateInput) error

	// Subject resolves the signed-in user who accepts an invitation
	// (POST /public/invitations/{token}/accept and the code acceptance).
	// The handler never takes the subject from the request body. An error
	// or an empty ID is 401. Default: nil, and then the two accept
	// endpoints are not served (404).
	Subject func(r *http.Request) (Subject, error)

	// Accepted, when set, runs after every successful acceptance (by token,
	// by code, or an admin's), before the response: the host grants
	// acc.Invitation's roles and groups to the subject. The acceptance is
	// committed whatever it returns; its error is answered as any other
	// (500 unless it matches a mapped error), and a retry replays the
	// acceptance (acc.Replayed) and calls Accepted again. Default: nil.
	Accepted func(r *http.Request, acc *invite.Acceptance) error

	// Transact, when set, runs each acceptance and its Accepted hook in
	// one transaction of the host's, so that the host's own writes (the
	// new user's row, the grants) commit with the acceptance or not at
	// all: it must begin a transaction, call fn with a context and a
	// Manager working inside it (for sqlstore:
	// m.WithStore(store.WithTx(tx)); put tx in the context for Accepted
	// to find), and commit when fn returns nil, roll back otherwise,
	// returning fn's error. Accepted then receives the request with that
	// context. Default: nil, and the acceptance commits on its own before
	// Accepted runs.
	Transact func(ctx context.Context, fn func(ctx context.Context, m *invite.Manager) error) error

	// RateLimit, when set, is asked before every public action is
	// performed (after its body is read): ref names what the request is
	// about, to limit per reference as well as per client (which the host
	// derives from r): "token:" and a keyed digest of the token (never the
	// token itself), or "code:" and the tenant, invitation id, email and
	// phone of a code reference, normalised. ok false refuses the request
	// with 429, with Retry-After set to retryAfter (at least one second).
	// Default: nil, no limit; limit the public endpoints somewhere.
	RateLimit func(r *http.Request, action Action, ref string) (retryAfter time.Duration, ok bool)

	// Retryable reports whether an error of the Store may pass when the
	// request is sent again (sqlstore.IsRetryable, for the SQL store); such
	// an error is 503 with Retry-After: RetryAfter. Default: nil, and a
	// store failure is 500.
	Retryable func(error) bool
	// RetryAfter is the Retry-After of a 503. Default: 1 second.
	RetryAfter time.Duration

	// MaxBodyBytes bounds a request body; a larger one is 413. Default:
	// 1 MiB (1 << 20).
	MaxBodyBytes int64

	// InvalidStatus is the status of a validation problem: a request
	// that could be read but has invalid fields (each listed in the
	// problem's "errors"), whether the Manager, the handler or a host hook
	// (a *invite.ValidationError) refused them, in a batch item too. The
	// problem's "status" member is the same. It is 422 (Unprocessable
	// Content) or 400 (Bad Request), for an API whose clients expect every
	// invalid request to be 400; any other value is an error of New. A
	// body that cannot be read is 400 either way, and a reused
	// Idempotency-Key 422 either way. Default: 422.
	InvalidStatus int

	// Prefix is prepended to every route ("/api/invite"), for a host whose
	// router passes the full path on (chi's Mount, gin, echo) instead of
	// stripping it (http.StripPrefix). It starts with "/" and does not end
	// with one; it may hold wildcards ({org}) for Tenant to read, other
	// than {tenant}, {id}, {user} and {token}. Default: "".
	Prefix string

	// ProblemTypeBase is prepended to each problem kind (see ProblemTypes)
	// to make the "type" URI of a problem response. Default:
	// DefaultProblemTypeBase.
	ProblemTypeBase string

	// Challenge is the WWW-Authenticate header of a 401. Default: "Bearer".
	Challenge string

	// Logger receives a line for every request that failed with a 5xx
	// (the error's text, which the response never carries; never a
	// secret). Default: slog.Default().
	Logger *slog.Logger
}

// AllowAll is an Authorize that allows every request: for a handler that
// the host's own middleware already guards.
func AllowAll(*http.Request, string, Action) error { return nil }

// DefaultProblemTypeBase is the default Config.ProblemTypeBase: each
// problem kind is a heading of the package's problems.md there.
const DefaultProblemTypeBase = "https://github.com/invitekit/invite/blob/main/invitehttp/problems.md#"

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []string
	if c.Manager == nil {
		errs = append(errs, "Manager is required")
	}
	if c.Authorize == nil {
		errs = append(errs, "Authorize is required (AllowAll allows every request)")
	}
	if c.Tenant == nil {
		c.Tenant = func(r *http.Request) (string, error) { return r.PathValue("tenant"), nil }
	}
	if c.RetryAfter < 0 {
		errs = append(errs, "RetryAfter must not be negative")
	} else if c.RetryAfter == 0 {
		c.RetryAfter = time.Second
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, "MaxBodyBytes must not be negative")
	} else if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	switch c.InvalidStatus {
	case 0:
		c.InvalidStatus = http.StatusUnprocessableEntity
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
	default:
		errs = append(errs, fmt.Sprintf("InvalidStatus %d must be 400 or 422", c.InvalidStatus))
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/")) {
		errs = append(errs, fmt.Sprintf("Prefix %q must start with / and not end with one", c.Prefix))
	}
	for _, name := range []string{"tenant", "id", "user", "token"} {
		if strings.Contains(c.Prefix, "{"+name+"}") || strings.Contains(c.Prefix, "{"+name+"...}") {
			errs = append(errs, "Prefix must not hold the wildcard {"+name+"}")
		}
	}
	if c.ProblemTypeBase == "" {
		c.ProblemTypeBase = DefaultProblemTypeBase
	}
	if c.Challenge == "" {
		c.Challenge = "Bearer"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(errs) > 0 {
		return c, errors.New("invitehttp: " + strings.Join(errs, "; "))
	}
	return c, nil
}

// refKey is a random key for the digests of tokens handed to RateLimit.
func refKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}
