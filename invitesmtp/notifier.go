package invitesmtp

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/invitekit/invite"
)

// Notifier sends invitation messages by email over SMTP. It implements
// invite.Notifier and is safe for concurrent use: it keeps up to
// Config.Connections connections open and sends one message at a time on
// each, so concurrent Notify calls wait for a free connection (or for
// their context to end).
type Notifier struct {
	s     *settings
	slots chan *conn
	// idKey keys the part of a Message-ID that tells two links apart
	// (MessageID); random per Notifier.
	idKey [32]byte

	mu     sync.Mutex
	closed bool
}

var _ invite.Notifier = (*Notifier)(nil)

// New validates cfg (every problem is a field of an *invite.ValidationError)
// and returns a Notifier. It opens no connection: the first Notify does.
func New(cfg Config) (*Notifier, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{s: s, slots: make(chan *conn, s.Connections)}
	_, _ = rand.Read(n.idKey[:]) // crypto/rand.Read never fails
	for range s.Connections {
		c, err := newConn(s)
		if err != nil {
			return nil, err
		}
		n.slots <- c
	}
	return n, nil
}

// Notify renders msg and hands it to the server, returning nil once the
// server has accepted it. It reuses an open connection (RSET between
// messages); a connection that has gone stale since its last message is
// reopened before anything is sent. Errors:
//
//   - invite.Permanent (dead-lettered at once by the dispatcher): a
//     message not for the email channel or without a plain address in To,
//     a *RenderError, and a *SendError for a 5xx refusal of the recipient
//     (RCPT TO) or of the message (DATA);
//   - a plain *SendError (retried): 4xx replies, a refused sender (MAIL
//     FROM, even with a 5xx reply), lost connections, timeouts, TLS and
//     authentication failures;
//   - ctx's error when it ended first; ErrClosed after Close.
//
// No error text holds the message's link or code.
func (n *Notifier) Notify(ctx context.Context, msg invite.Message) error {
	r := newRedactor(msg)
	m, err := n.build(msg, time.Now(), r)
	if err != nil {
		return err
	}
	var c *conn
	select {
	case c = <-n.slots:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { n.slots <- c }()
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return ErrClosed
	}
	log := n.s.Logger.With("message_id", msg.ID, "tenant_id", msg.TenantID, "invitation_id", msg.InvitationID)

	if c.stale(time.Now()) {
		c.quit()
	}
	for attempt := 1; ; attempt++ {
		fresh := c.smtp == nil
		if fresh {
			if err := c.connect(ctx); err != nil {
				se := sendError(StageConnect, err, r)
				if err := ctxErr(ctx); err != nil {
					return errors.Join(err, se)
				}
				log.WarnContext(ctx, "invitesmtp: connecting failed", "host", n.s.Host, "port", n.s.Port,
					"tls", n.s.TLS.String(), "error", se.Error())
				return se
			}
			log.DebugContext(ctx, "invitesmtp: connected", "host", n.s.Host, "port", n.s.Port, "tls", n.s.TLS.String())
		}
		err := c.send(ctx, m)
		if err == nil || m.IsDelivered() {
			// Delivered: a failure after the server's acceptance (of the
			// RSET that follows) only costs the connection.
			if err != nil {
				c.drop()
			}
			log.DebugContext(ctx, "invitesmtp: sent", "connection_messages", c.sent)
			return nil
		}
		se := sendError(StageData, err, r)
		if !keepsSession(se) {
			c.drop()
		}
		// A reused connection that fails its check before MAIL FROM has
		// sent nothing: reopen it once, in this call.
		if se.Stage == StageConnect && !fresh && attempt == 1 && ctxErr(ctx) == nil {
			log.DebugContext(ctx, "invitesmtp: reconnecting a stale connection", "error", se.Error())
			c.drop()
			continue
		}
		if err := ctxErr(ctx); err != nil {
			return errors.Join(err, se)
		}
		log.WarnContext(ctx, "invitesmtp: sending failed", "stage", string(se.Stage), "code", strconv.Itoa(se.Code),
			"permanent", se.permanent(), "error", se.Error())
		return se.result()
	}
}

// keepsSession reports whether the session is still usable after e: the
// server refused the sender or a recipient with a reply (go-mail resets
// the transaction after it), and did not announce it is closing (421).
func keepsSession(e *SendError) bool {
	return (e.Stage == StageSender || e.Stage == StageRecipient) && e.Code >= 400 && e.Code != 421
}

// Close ends every open session (QUIT) once its message under way, if
// any, is sent. Notify returns ErrClosed afterwards. Close is idempotent.
func (n *Notifier) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	held := make([]*conn, 0, cap(n.slots))
	for range cap(n.slots) {
		c := <-n.slots
		c.quit()
		held = append(held, c)
	}
	for _, c := range held {
		n.slots <- c
	}
	return nil
}
