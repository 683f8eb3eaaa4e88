// Package invitehook delivers invitation events as signed webhooks, and
// verifies them on the receiving side.
//
// # Sending
//
// A Sink is an invite.EventSink: set it as the Manager's Config.EventSink
// and run a Dispatcher, which hands it each event (with the same
// Event.ID on every retry):
//
//	sink, err := invitehook.New(invitehook.Config{Endpoints: []invitehook.Endpoint{{
//		URL:     "https://crm.example/hooks/invite",
//		Secrets: []string{os.Getenv("CRM_WEBHOOK_SECRET")}, // "whsec_..."
//		Types:   []invite.EventType{invite.EventSent, invite.EventAccepted},
//	}}})
//	m, err := invite.New(store, invite.Config{EventSink: sink /* ... */})
//
// Each event is POSTed as the JSON form of invite.Event (the one in the
// core package's testdata/event.json), Content-Type application/json, to
// every endpoint whose Types include its type, with the headers of the
// Standard Webhooks specification:
//
//	webhook-id:        the event's ID, the same on every retry: the receiver's deduplication key
//	webhook-timestamp: the attempt's time in Unix seconds
//	webhook-signature: v1,<base64 of HMAC-SHA256("<id>.<timestamp>.<body>")>
//
// A secret is "whsec_" and the base64 of 24 to 64 random bytes (NewSecret
// makes one); New refuses any other with a *SecretError naming the field.
// An endpoint with several secrets sends one signature per secret, space
// separated: to rotate, add the new secret, update the receiver, then drop
// the old one.
//
// Events carry no secret, token, code or hash of one; neither do the
// requests.
//
// # Responses
//
//   - 2xx: delivered.
//   - 410 Gone: the receiver wants no more. The endpoint is disabled in
//     this process's memory (the attempt counts as settled), a warning is
//     logged and Config.OnDisable is called; Sink.Disabled lists disabled
//     endpoints and Sink.Enable turns one on again. A restart, which builds
//     a new Sink from the Config, enables it again: remove the endpoint
//     from the Config to stop for good.
//   - 429 and 5xx: retried. A Retry-After (seconds or an HTTP date, capped
//     at a day) becomes invite.RetryAfter, the Dispatcher's pause before
//     the next attempt.
//   - Network errors and timeouts (15 s per request by default,
//     Config.Timeout): retried with the Dispatcher's backoff.
//   - Any other status (3xx, as redirects are not followed, and 4xx): the
//     error is invite.Permanent, and the Dispatcher dead-letters the event
//     at once (Manager.Redrive sends it again once the receiver is fixed).
//
// At most 64 KiB of a response body is read, and it is discarded.
//
// # Several endpoints
//
// An event goes to its endpoints at once. Publish succeeds when every one
// of them took it. When one fails and another succeeds, the error is
// retryable if any failure is, and the Dispatcher calls Publish again
// with the same event: the Sink remembers which endpoints took the event
// (or refused it for good) and sends the retry only to the others. The
// same holds across a batch: while one event of a Publish call awaits a
// retry, the Sink also remembers who took or refused the call's other
// events, and the retry of the whole batch skips them. It remembers
// Config.Remember events of calls awaiting a retry (10,000 by default)
// in memory; one it does not know (evicted, after a restart, or retried
// by another process's Dispatcher) is sent again to every endpoint, and
// receivers that deduplicate on webhook-id take it once. When no failure
// is retryable but some endpoint refused an event (in this attempt or an
// earlier one of the same batch), the error is permanent: the events are
// dead-lettered, and a redrive sends them again to every endpoint.
//
// # Mapping to webhook kinds
//
// Hosts whose receivers expect three kinds of webhook, "invitation sent or
// re-sent", "invitation accepted" and "account created", map them so:
//
//   - Invitation sent or re-sent: invite.EventSent ("invitation.sent"). It
//     is emitted each time an invitation's message was delivered (by the
//     Manager, the Dispatcher, or the host's MarkSent), so only when the
//     invitee was actually invited; a re-send has New.ResendCount > 0.
//     invite.EventResent marks the moment a resend minted a new secret,
//     before delivery: subscribe to one of the two, not both, or a resend
//     arrives twice.
//   - Invitation accepted: invite.EventAccepted ("invitation.accepted"),
//     with Old (the invitation before, pending or sent) and New (accepted,
//     with AcceptedBy, the new user's id, and ClosedAt). Actor says who
//     accepted: the invitee, or an admin through AcceptByID.
//   - Account created: the library does not create users, so the host
//     sends this one after it created the user, through the same Sink and
//     endpoints: NewWebhook builds a payload in the events' shape, and
//     Send signs and delivers it, with the same status handling. Send is
//     not backed by the outbox: on error, retry with the same ID (endpoints
//     that took it are skipped) or queue it in the host's own store. A
//     host that accepts inside its own transaction (sqlstore's WithTx) may
//     instead let receivers treat invitation.accepted as the account's
//     creation: that event commits with the user row and is delivered at
//     least once.
//
// # Receiving
//
// Verify checks a request: the three headers present, the timestamp
// within five minutes of the receiver's clock either way, and a signature
// made with one of the receiver's secrets (compared in constant time).
// Every failure is a typed error. Middleware wraps a handler with it.
// After Verify, deduplicate on webhook-id: a retry after a lost response
// carries the same id.
package invitehook
