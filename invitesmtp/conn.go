package invitesmtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// conn is one connection slot: a go-mail Client configured for the server
// (dialling through the slot, so that the slot holds the network
// connection) and the open session, if any. A slot is used by one
// goroutine at a time: the Notifier hands slots out through a channel.
type conn struct {
	s      *settings
	client *gomail.Client
	smtp   *smtp.Client // nil when not connected
	raw    atomic.Pointer[limitConn]
	limit  time.Time // the deadline for the next dial
	sent   int       // messages sent on the open session
	used   time.Time // when the open session last sent
}

func newConn(s *settings) (*conn, error) {
	c := &conn{s: s}
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(max(s.ConnectTimeout, s.SendTimeout)), // the slot's limits are the real bounds
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(c.dial),
	}
	switch s.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case StartTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case ImplicitTLS, NoTLS: // implicit TLS is done by c.dial
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.HELO))
	}
	if s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&chooseAuth{s: s}))
	}
	client, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, err
	}
	c.client = client
	return c, nil
}

// dial opens the network connection for go-mail: TCP, bounded by c.limit,
// and TLS from the start for ImplicitTLS.
func (c *conn) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: nc}
	if err := lc.setLimit(c.limit); err != nil {
		_ = nc.Close()
		return nil, err
	}
	c.raw.Store(lc)
	if c.s.TLS != ImplicitTLS {
		return lc, nil
	}
	tc := tls.Client(lc, c.s.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return tc, nil
}

// connect opens a session: dial, greeting, TLS, authentication, within
// ConnectTimeout and ctx.
func (c *conn) connect(ctx context.Context) error {
	c.limit = deadline(ctx, c.s.ConnectTimeout)
	dctx, cancel := context.WithDeadline(ctx, c.limit)
	defer cancel()
	stop := context.AfterFunc(ctx, c.abort) // the limit bounds the rest
	sc, err := c.client.DialToSMTPClientWithContext(dctx)
	stop()
	if err != nil {
		c.drop()
		switch {
		case ctxErr(ctx) != nil:
			return fmt.Errorf("%w (%w)", ctxErr(ctx), err)
		case dctx.Err() != nil || time.Now().After(c.limit):
			return fmt.Errorf("connect timeout after %s: %w", c.s.ConnectTimeout, err)
		}
		return err
	}
	c.smtp, c.sent, c.used = sc, 0, time.Now()
	return nil
}

// send sends m on the open session within SendTimeout and ctx. A
// cancelled ctx closes the connection under way.
func (c *conn) send(ctx context.Context, m *gomail.Msg) error {
	lc := c.raw.Load()
	if lc == nil {
		return errors.New("no connection")
	}
	if err := lc.setLimit(deadline(ctx, c.s.SendTimeout)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, c.abort)
	err := c.client.SendWithSMTPClient(c.smtp, m)
	stop()
	c.sent++
	c.used = time.Now()
	if err != nil && ctxErr(ctx) != nil {
		return fmt.Errorf("%w (%w)", ctxErr(ctx), err)
	}
	return err
}

// stale reports whether the open session should be closed before the next
// message: idle for too long, or at its message limit.
func (c *conn) stale(now time.Time) bool {
	return c.smtp != nil && (now.Sub(c.used) >= c.s.IdleTimeout || c.sent >= c.s.MaxMessagesPerConnection)
}

// quit ends the session politely (QUIT, within a short bound) and closes
// the connection.
func (c *conn) quit() {
	if c.smtp != nil {
		if lc := c.raw.Load(); lc != nil {
			_ = lc.setLimit(time.Now().Add(min(c.s.SendTimeout, 5*time.Second)))
		}
		_ = c.smtp.Quit()
	}
	c.drop()
}

// drop closes the connection without a word.
func (c *conn) drop() {
	c.abort()
	c.raw.Store(nil)
	c.smtp = nil
	c.sent = 0
}

// abort closes the network connection; a command waiting on it fails at
// once. It is safe from any goroutine.
func (c *conn) abort() {
	if lc := c.raw.Load(); lc != nil {
		_ = lc.Close()
	}
}

// deadline is now plus d, or ctx's deadline when that is earlier.
func deadline(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(t) {
		return cd
	}
	return t
}

// ctxErr is ctx's error, or context.DeadlineExceeded once its deadline
// has passed (a connection deadline set to it may fire first).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// limitConn is a network connection whose deadlines never pass its limit:
// go-mail sets its own deadlines from one timeout, and the limit keeps
// them within the connect or send timeout and the caller's context.
type limitConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time
}

func (l *limitConn) setLimit(t time.Time) error {
	l.mu.Lock()
	l.limit = t
	l.mu.Unlock()
	return l.Conn.SetDeadline(t)
}

func (l *limitConn) clamp(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.limit.IsZero() && (t.IsZero() || t.After(l.limit)) {
		return l.limit
	}
	return t
}

func (l *limitConn) SetDeadline(t time.Time) error      { return l.Conn.SetDeadline(l.clamp(t)) }
func (l *limitConn) SetReadDeadline(t time.Time) error  { return l.Conn.SetReadDeadline(l.clamp(t)) }
func (l *limitConn) SetWriteDeadline(t time.Time) error { return l.Conn.SetWriteDeadline(l.clamp(t)) }

// chooseAuth authenticates with the first of Config.AuthMechanisms the
// server offers. go-mail's PLAIN and LOGIN refuse to send the password
// over a connection without TLS, except to a loopback host.
type chooseAuth struct {
	s    *settings
	mech smtp.Auth
}

func (a *chooseAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	a.mech = nil
	for _, m := range a.s.AuthMechanisms {
		if !offers(server.Auth, string(m)) {
			continue
		}
		switch m {
		case AuthPlain:
			a.mech = smtp.PlainAuth("", a.s.Username, a.s.Password, a.s.Host, false)
		case AuthLogin:
			a.mech = smtp.LoginAuth(a.s.Username, a.s.Password, a.s.Host, false)
		case AuthCRAMMD5:
			a.mech = smtp.CRAMMD5Auth(a.s.Username, a.s.Password)
		}
		return a.mech.Start(server)
	}
	if len(server.Auth) == 0 {
		return "", nil, errors.New("the server offers no authentication (some offer it only after STARTTLS)")
	}
	return "", nil, fmt.Errorf("the server offers none of the configured mechanisms (it offers %s)",
		headerText(strings.Join(server.Auth, " "), 200))
}

func (a *chooseAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if a.mech == nil {
		return nil, errors.New("authentication not started")
	}
	return a.mech.Next(fromServer, more)
}

func offers(list []string, mech string) bool {
	for _, m := range list {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}
