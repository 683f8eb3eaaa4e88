// Package invitehttp serves an invite.Manager over HTTP: a ready
// http.Handler with the admin API of a tenant's invitations and the
// invitee's public endpoints, JSON in and out, errors as RFC 9457 problem
// details. It is optional; the core package stays free of HTTP.
//
//	api, err := invitehttp.New(invitehttp.Config{
//		Manager:   m,
//		Authorize: authorize, // the host's: who may do what, in which tenant
//		Subject:   signedInUser,
//	})
//	mux.Handle("/api/invite/", http.StripPrefix("/api/invite", api))
//
// # Mounting
//
// The handler routes with net/http's ServeMux patterns and depends on no
// router. Mount it under any prefix: with net/http, http.StripPrefix as
// above; with chi, r.Mount("/api/invite", http.StripPrefix("/api/invite",
// api)) (chi's Mount does not strip the path); with gin,
// g.Any("/api/invite/*path", gin.WrapH(http.StripPrefix("/api/invite",
// api))); with echo, e.Any("/api/invite/*", echo.WrapHandler(
// http.StripPrefix("/api/invite", api))). Or set Config.Prefix to
// "/api/invite" and hand the handler the full path.
//
// # Who may do what
//
// The adapter never guesses identity. Config.Authorize receives every
// request with its tenant and Action and may refuse: an error matching
// ErrUnauthenticated is 401, any other 403. Config.Tenant resolves the
// tenant (by default the {tenant} path segment); Config.Subject the
// signed-in user who accepts (the subject id and verified email never come
// from the request body); Config.BeforeCreate sets what a client may not
// choose on a create (the inviter, from the session). To name the admin
// in events, set invite.WithActor on the request's context in the host's
// middleware. Config.RateLimit guards the public endpoints (429 with
// Retry-After), per client and per reference.
//
// # Routes
//
// Admin, scoped to the tenant:
//
//	POST   /tenants/{tenant}/invitations             create (Idempotency-Key), 201
//	POST   /tenants/{tenant}/invitations/batch       {"invitations": [...]}: a status and result or problem per item
//	PUT    /tenants/{tenant}/invitations             create or update the invitee's open one: 201 or 200
//	GET    /tenants/{tenant}/invitations             list: filters, cursor or skip/count, total=true
//	GET    /tenants/{tenant}/users/{user}/invitations the user's invitations (the same query)
//	GET    /tenants/{tenant}/invitations/{id}        one invitation, with ETag
//	PATCH  /tenants/{tenant}/invitations/{id}        edits, "resend", or "state" (If-Match)
//	DELETE /tenants/{tenant}/invitations/{id}        204 (If-Match)
//	GET    /tenants/{tenant}/dead-letters            ?after=&limit=
//	POST   /tenants/{tenant}/dead-letters/redrive    {"ids": [...]}
//
// Public, for the invitee (every response has Cache-Control: no-store and
// Referrer-Policy: no-referrer):
//
//	GET    /public/invitations/{token}               the public view; never changes anything
//	POST   /public/invitations/{token}/accept        as the signed-in user (Config.Subject)
//	POST   /public/invitations/{token}/reject        {"reason"} optional
//	POST   /public/tenants/{tenant}/codes/verify     {"invitation_id" | "email" | "phone", "code"}
//	POST   /public/tenants/{tenant}/codes/accept     the same, as the signed-in user
//
// The token is in the path of these routes. The handler never logs a
// path, but a reverse proxy's or the host's access log may: keep the
// public paths out of access logs (or log the route pattern instead of the
// path), as for any URL that carries a credential.
//
// And the description of all of them, to anyone (it is not put to
// Authorize):
//
//	GET    /openapi.json                             the OpenAPI 3.1 document
//
// The document (see OpenAPI) describes every route, parameter, body,
// status and header, and the problem schema; the package's test checks
// real requests and responses of the handler against it. It is served as
// application/vnd.oai.openapi+json;version=3.1 with an ETag (If-None-Match
// answers 304) and Cache-Control: no-cache, and its "servers" entry is the
// path the request came in by, so that a client or a generator pointed at
// it finds the API wherever the host mounted it.
//
// Only GET reads: accept and reject are POST, so that mail scanners that
// fetch every link cannot use an invitation up. The accept endpoints are
// served only with a Config.Subject. A lookup of an open invitation
// answers its invite.PublicInvitation; of a closed one, a 410 problem
// whose "invitation" member is that view, with its state.
//
// # JSON
//
// Requests and responses use the library's JSON forms: invite.CreateInput
// for create, batch items and PUT (tenant_id may be left out; it is the
// path's); invite.Invitation for single invitations; {"invitations",
// "next_cursor", "total"} for lists. Bodies are decoded strictly:
// Content-Type application/json (or a +json type) or 415, at most
// Config.MaxBodyBytes (1 MiB) or 413, valid UTF-8, exactly one JSON value,
// and every member known to the endpoint under its exact name and given
// once, or 400 with the pointer of each member at fault.
//
// A create, an upsert or a resend answers {"invitation", "replayed",
// "created" (PUT), "delivery_error"}. The secret is never in it, except
// when the request asked for "delivery": "return": the caller delivers the
// invitation itself, so the response deliberately carries "token", "code"
// (with "with_code") and "link". Treat such a response as a secret.
//
// PATCH takes any of the editable fields of invite.UpdateInput
// (expires_at, given_name, family_name, roles, groups, data, form_data,
// variables, metadata, identity_provider_id, redirect_uri, locale; a
// member left out or null keeps its value), "resend" (invite.ResendOptions:
// {"delivery", "expires_in_days"}, after the edits, in the same write), or
// one state change, alone: {"state": "revoked", "reason"}, {"state":
// "rejected", "reason"}, {"state": "accepted", "subject", "email"}
// (an admin's acceptance on the invitee's behalf) or {"state": "sent"}
// (the host delivered the invitation itself). Authorize sees the action
// the body asks for (ActionUpdate, ActionResend, ActionRevoke,
// ActionAdminReject, ActionAdminAccept, ActionMarkSent).
//
// # Concurrency and retries
//
// Single-invitation responses carry ETag: the invitation's version in
// quotes ("3"). If-Match on PATCH and DELETE guards the change with that
// version (412 when the invitation changed); for a state change it is
// checked just before the change, which the transition table still
// guards. If-None-Match on GET answers 304.
//
// The Idempotency-Key header of a create (and PUT) is the input's
// idempotency key: sent again with the same body it answers 200 with the
// first invitation and "replayed": true, without its secret (only its hash
// was kept; a resend mints a new one); with another body it is 422.
//
// # Errors
//
// Every error is application/problem+json with a "type" (Config.
// ProblemTypeBase and the kind, listed by ProblemTypes and described in
// problems.md), "title", "status", a "detail" saying how to fix the request
// (never a store's error, another tenant's id or a secret), and for
// invalid input "errors": [{"pointer" or "parameter", "code", "reason"}],
// with the codes of invite.FieldError.
//
//	400 malformed-request       JSON, query or header that cannot be read
//	400 invalid-code            any failure of a short code (one answer for all)
//	401 unauthenticated         Authorize, Tenant or Subject said ErrUnauthenticated (WWW-Authenticate: Config.Challenge)
//	403 forbidden               Authorize refused; email-mismatch, subject-mismatch on accept
//	404 not-found               no such invitation, tenant or path; invalid-token
//	405 method-not-allowed      with Allow
//	409 already-exists          with "existing_id", the invitee's open invitation
//	409 version-conflict        the invitation changed meanwhile (412 with If-Match)
//	409 invalid-transition      e.g. revoking a declined invitation
//	409 quota-exceeded          with "limit"
//	410 expired, already-accepted, revoked; rejected on the public endpoints
//	412 precondition-failed     If-Match did not match
//	413 payload-too-large
//	415 unsupported-media-type
//	422 validation              with "errors" (400 with Config.InvalidStatus)
//	422 idempotency-mismatch    the key was first used with another body
//	429 rate-limited            with Retry-After
//	500 internal                logged to Config.Logger, never detailed
//	501 not-implemented         the store cannot count or has no outbox
//	503 unavailable             Config.Retryable (sqlstore.IsRetryable) said so, or a deadline: Retry-After
package invitehttp
