// Package invite manages invitations for Go services: a host creates an
// invitation for someone (by email, phone or an existing user id, inside a
// tenant), the library mints a one-time secret stored only as a hash, builds
// the link or short code, delivers it through the host's Notifier, tracks
// its state, and accepts it exactly once, handing back the roles, groups and
// pre-filled data it carried. The host keeps its own users, HTTP framework
// and database.
//
// # Getting started
//
//	m, err := invite.New(memstore.New(), invite.Config{
//		LinkTemplate: "https://app.example/invite?token={{.Token}}",
//		Notifier:     myNotifier,
//	})
//	res, err := m.Create(ctx, invite.CreateInput{
//		TenantID: "acme",
//		Invitee:  invite.Invitee{Email: "ada@example.com"},
//		Roles:    []string{"admin"},
//	})
//	// ... later, when the invitee follows the link:
//	acc, err := m.Accept(ctx, token, invite.AcceptInput{Subject: newUserID})
//	// grant acc.Invitation.Roles and acc.Invitation.Groups to newUserID
//
// # Lifecycle
//
//	Create ──► pending ──deliver──► sent ──Resend──► sent (new secret, new expiry)
//	              │                  │
//	  Accept/Reject/Revoke     Accept/Reject/Revoke
//	              ▼                  ▼
//	    accepted | rejected | revoked            (terminal)
//	pending/sent past ExpiresAt ──► expired ──Resend──► pending, then sent
//
// One transition table, keyed by Operation, says from which states each
// operation (accept, reject, revoke, resend, update, mark-sent, expire,
// supersede, delete) may start and where it leaves the invitation
// (Operation.Next). Every Manager method that changes an invitation checks
// it against the invitation's effective state before writing, and an
// operation it does not allow is a *TransitionError naming the operation
// and the state. Expired is
// derived on every read and materialised by Manager.ExpireDue, which also
// emits the event. An expired, accepted, rejected or revoked invitation
// never blocks a new one for the same invitee; an open one does
// (ErrAlreadyExists) unless the caller asks to supersede it.
//
// Every change bumps Invitation.Version, and stores apply a change only if
// the version they hold is the one it was computed from (compare-and-swap).
// That is what makes Accept single-use under any concurrency, in every
// store, whoever accepts: the invitee (Accept, AcceptCode) or an admin on
// their behalf (AcceptByID). Accepting again for the same subject is a
// replay, and revoking a revoked invitation (or RejectByID of a rejected
// one) returns it unchanged: neither writes, so retries are safe.
//
// A resend (Resend, UpdateAndResend, Upsert with ResendOnUpdate) mints a
// new secret in the same write as any edit; Invitation.ResendCount and
// LastResentAt record it.
//
// # Delivery
//
// Once a change has committed, its message and its events are delivered at
// least once. With a Store that implements Outbox (memstore and sqlstore
// do), the change, its events and a QueuedMessage naming what to send are
// one atomic write. Create and Resend try to send right after it; what that
// attempt does not deliver, a Dispatcher (Manager.NewDispatcher, run one
// per process) delivers with a fresh secret, retrying with backoff and
// dead-lettering what keeps failing (Manager.DeadLetters, Manager.Redrive).
// Inside a host transaction (HostTransaction) nothing is sent before the
// host commits. Receivers deduplicate on Message.ID and Event.ID, and order
// an invitation's events by Event.Version.
//
// # Security model
//
//   - Link tokens are "inv_" + 44 base62 characters of 32 bytes from
//     crypto/rand + a 6-character CRC32 checksum. The prefix lets secret
//     scanners find leaked tokens; the checksum rejects typos and garbage
//     (ErrInvalidToken) before any store lookup. Stores keep only the
//     SHA-256 of the token.
//   - Short codes (for SMS or typing) use an unambiguous alphabet, are
//     stored as argon2id hashes, are checked together with the invitation
//     they belong to, and die after Config.CodeMaxAttempts failures, counted
//     even under parallel guessing.
//   - The plaintext secret leaves the library exactly once: in the Result of
//     the call that minted it, and in the Message handed to the Notifier (a
//     Dispatcher mints the secret of a message it sends). It is never
//     stored, not even in the outbox. Secret, TokenHash and Credentials print as
//     [REDACTED] through fmt, log/slog and encoding/json; Invitation and
//     Event carry no secret and no hash; errors never echo one.
//   - Lookup never changes anything, so mail scanners that fetch every link
//     cannot consume an invitation. For a closed invitation its
//     *TransitionError carries the PublicInvitation, the view a token
//     holder may see (no internal ids, metadata or secrets); an unknown
//     token carries nothing. Accept can be bound to the invited email
//     (ErrEmailMismatch) and an invitation for an existing user id can only
//     be accepted by that user (ErrSubjectMismatch); neither consumes it.
//   - Every admin operation is scoped by tenant: another tenant's invitation
//     is ErrNotFound. Token operations find the tenant from the token (it is
//     the capability); AcceptInput.TenantID pins an acceptance to a tenant.
//
// # Errors
//
// Sentinels (ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid,
// ErrInvalidTransition, ErrExpired, ErrAlreadyAccepted, ErrInvalidToken,
// ErrInvalidCode, ErrCodeLocked, ErrEmailMismatch, ErrSubjectMismatch,
// ErrNoDeliveryChannel, ErrUnknownTemplate, ErrDelivery, ErrNoOutbox,
// ErrNoCounter, ErrQuotaExceeded, ErrIdempotencyMismatch) match with
// errors.Is; *ExistsError names the open invitation in the way,
// *QuotaError the inviter's limit. Bad input is a *ValidationError listing
// every bad field, each with a stable Code and its Path and Pointer in the
// input's JSON form.
//
// # Packages
//
//   - invite (this package): Manager, the types, validation, tokens, the
//     Store contract.
//   - memstore: the in-memory Store, for tests, prototypes and
//     single-process hosts.
//   - sqlstore: the Store on database/sql (PostgreSQL, SQLite, MySQL or
//     MariaDB), with its migrations.
//   - storetest: the conformance suite every Store passes.
//   - invitetest: helpers for hosts' own tests (a settable clock, a
//     recording Notifier and EventSink, a Manager on memstore).
//   - invitephone: Config.NormalizePhone for numbers as people type them,
//     on libphonenumber's numbering plans.
//   - invitetmpl: message templates per key, channel and language (email
//     subject, HTML and text; SMS with its segment count), with defaults
//     in English, German and Arabic.
//   - invitesmtp: a Notifier that sends the rendered email over SMTP
//     (STARTTLS or implicit TLS, authentication, a reused connection;
//     permanent rejections dead-lettered at once).
//   - invitehook: an EventSink that posts events as signed webhooks
//     (Standard Webhooks), and Verify for receivers.
//   - invitehttp: an http.Handler serving the admin and public API (JSON,
//     problem details, ETags, idempotency keys) for any router.
//   - invitedev: a development Notifier that logs each rendered message
//     and writes it as an .eml file.
//   - examples/quickstart: the whole lifecycle in one runnable program.
package invite
