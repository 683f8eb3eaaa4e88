package invitesmtp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
)

// TestRefusals: 5xx for the recipient or the message is permanent; 4xx,
// and any refusal of the sender, is retried. A refusal at MAIL or RCPT
// keeps the session.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name      string
		mail      error
		rcpt      error
		data      error
		stage     invitesmtp.Stage
		code      int
		enhanced  string
		permanent bool
		sessions  int32 // after a second, accepted message
	}{
		{name: "550 user unknown", rcpt: smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user"),
			stage: invitesmtp.StageRecipient, code: 550, enhanced: "5.1.1", permanent: true, sessions: 1},
		{name: "553 mailbox name not allowed", rcpt: smtpErr(553, smtp.EnhancedCode{5, 1, 3}, "Bad address syntax"),
			stage: invitesmtp.StageRecipient, code: 553, enhanced: "5.1.3", permanent: true, sessions: 1},
		{name: "451 greylisted", rcpt: smtpErr(451, smtp.EnhancedCode{4, 7, 1}, "Greylisted, try again later"),
			stage: invitesmtp.StageRecipient, code: 451, enhanced: "4.7.1", sessions: 1},
		{name: "452 mailbox full", rcpt: smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "Mailbox full"),
			stage: invitesmtp.StageRecipient, code: 452, enhanced: "4.2.2", sessions: 1},
		{name: "554 message refused", data: smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Message refused as spam"),
			stage: invitesmtp.StageData, code: 554, enhanced: "5.7.1", permanent: true, sessions: 2},
		{name: "451 local error in processing", data: smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Try again"),
			stage: invitesmtp.StageData, code: 451, enhanced: "4.3.0", sessions: 2},
		{name: "550 sender refused is retried", mail: smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Sender address rejected: not owned by user"),
			stage: invitesmtp.StageSender, code: 550, enhanced: "5.7.1", sessions: 1},
		{name: "553 sender not allowed is retried", mail: smtpErr(553, smtp.EnhancedCode{5, 1, 8}, "Bad sender's system address"),
			stage: invitesmtp.StageSender, code: 553, enhanced: "5.1.8", sessions: 1},
		{name: "451 sender check deferred", mail: smtpErr(451, smtp.EnhancedCode{4, 1, 8}, "Sender domain lookup failed"),
			stage: invitesmtp.StageSender, code: 451, enhanced: "4.1.8", sessions: 1},
		{name: "530 authentication required is not permanent", rcpt: smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authenticate first"),
			stage: invitesmtp.StageRecipient, code: 530, enhanced: "5.7.0", sessions: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, serverOpts{StartTLS: true})
			var once atomic.Bool
			ts.onMail = func(string) error {
				if tt.mail != nil && once.CompareAndSwap(false, true) {
					return tt.mail
				}
				return nil
			}
			ts.onRcpt = func(string) error {
				if tt.rcpt != nil && once.CompareAndSwap(false, true) {
					return tt.rcpt
				}
				return nil
			}
			ts.onData = func(*smtp.Conn, []byte) error {
				if tt.data != nil && once.CompareAndSwap(false, true) {
					return tt.data
				}
				return nil
			}
			n := newNotifier(t, testConfig(ts))
			err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
			require.Error(t, err)
			require.Equal(t, tt.permanent, invite.IsPermanent(err), err.Error())
			var se *invitesmtp.SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.stage, se.Stage)
			require.Equal(t, tt.code, se.Code)
			require.Equal(t, tt.enhanced, se.EnhancedCode)
			require.Equal(t, tt.code < 500, se.Temporary())
			require.Contains(t, err.Error(), fmt.Sprint(tt.code))
			require.Empty(t, ts.Mails())

			require.NoError(t, n.Notify(t.Context(), testMessage("b", "ada@example.com")))
			require.Len(t, ts.Mails(), 1)
			require.Equal(t, tt.sessions, ts.sessions.Load())
		})
	}
}

// TestDroppedMidSession: a connection lost during DATA is a retryable
// error, and the next message opens a new connection.
func TestDroppedMidSession(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	var drop atomic.Bool
	drop.Store(true)
	ts.onData = func(c *smtp.Conn, _ []byte) error {
		if drop.CompareAndSwap(true, false) {
			_ = c.Conn().Close()
			return errors.New("dropped")
		}
		return nil
	}
	n := newNotifier(t, testConfig(ts))
	err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
	require.Error(t, err)
	require.False(t, invite.IsPermanent(err), err.Error())
	var se *invitesmtp.SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, invitesmtp.StageData, se.Stage)
	require.True(t, se.Temporary())

	require.NoError(t, n.Notify(t.Context(), testMessage("a", "ada@example.com")))
	require.Len(t, ts.Mails(), 1)
	require.Equal(t, int32(2), ts.sessions.Load())
}

// TestReuse: one connection carries many messages; a connection the
// server closed while idle is reopened without an error; the message
// limit and the idle timeout open new ones.
func TestReuse(t *testing.T) {
	t.Run("one connection", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true, Auth: []string{"PLAIN"}})
		cfg := testConfig(ts)
		cfg.Username, cfg.Password = testUser, testPass
		n := newNotifier(t, cfg)
		for i := range 10 {
			require.NoError(t, n.Notify(t.Context(), testMessage(fmt.Sprint("m", i), "ada@example.com")))
		}
		require.Len(t, ts.Mails(), 10)
		require.Equal(t, int32(1), ts.sessions.Load())
	})
	t.Run("closed by the server while idle", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		n := newNotifier(t, testConfig(ts))
		require.NoError(t, n.Notify(t.Context(), testMessage("a", "ada@example.com")))
		ts.DropAll()
		require.NoError(t, n.Notify(t.Context(), testMessage("b", "ada@example.com")))
		require.Len(t, ts.Mails(), 2)
		require.Equal(t, int32(2), ts.sessions.Load())
	})
	t.Run("message limit", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		cfg := testConfig(ts)
		cfg.MaxMessagesPerConnection = 3
		n := newNotifier(t, cfg)
		for i := range 10 {
			require.NoError(t, n.Notify(t.Context(), testMessage(fmt.Sprint("m", i), "ada@example.com")))
		}
		require.Len(t, ts.Mails(), 10)
		require.Equal(t, int32(4), ts.sessions.Load())
	})
	t.Run("idle timeout", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		cfg := testConfig(ts)
		cfg.IdleTimeout = 50 * time.Millisecond
		n := newNotifier(t, cfg)
		require.NoError(t, n.Notify(t.Context(), testMessage("a", "ada@example.com")))
		time.Sleep(80 * time.Millisecond)
		require.NoError(t, n.Notify(t.Context(), testMessage("b", "ada@example.com")))
		require.Equal(t, int32(2), ts.sessions.Load())
	})
}

// TestConnectFailures: TLS, STARTTLS and authentication failures and a
// closed port are retryable connect errors.
func TestConnectFailures(t *testing.T) {
	tests := []struct {
		name   string
		server serverOpts
		config func(*invitesmtp.Config)
		want   string
	}{
		{name: "STARTTLS required but not offered", server: serverOpts{},
			config: func(*invitesmtp.Config) {}, want: "STARTTLS"},
		{name: "untrusted certificate", server: serverOpts{StartTLS: true},
			config: func(c *invitesmtp.Config) { c.TLSConfig = nil }, want: "certificate"},
		{name: "implicit TLS, untrusted certificate", server: serverOpts{ImplicitTLS: true},
			config: func(c *invitesmtp.Config) { c.TLS, c.TLSConfig = invitesmtp.ImplicitTLS, nil }, want: "certificate"},
		{name: "wrong password", server: serverOpts{StartTLS: true, Auth: []string{"PLAIN"}},
			config: func(c *invitesmtp.Config) { c.Username, c.Password = testUser, "wrong" }, want: "535"},
		{name: "no offered mechanism allowed", server: serverOpts{StartTLS: true, Auth: []string{"LOGIN"}},
			config: func(c *invitesmtp.Config) {
				c.Username, c.Password = testUser, testPass
				c.AuthMechanisms = []invitesmtp.AuthMechanism{invitesmtp.AuthCRAMMD5}
			}, want: "offers none of the configured mechanisms (it offers LOGIN)"},
		{name: "no authentication offered", server: serverOpts{StartTLS: true},
			config: func(c *invitesmtp.Config) { c.Username, c.Password = testUser, testPass }, want: "offers no authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server)
			cfg := testConfig(ts)
			tt.config(&cfg)
			n := newNotifier(t, cfg)
			err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
			require.Error(t, err)
			require.False(t, invite.IsPermanent(err), err.Error())
			var se *invitesmtp.SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, invitesmtp.StageConnect, se.Stage)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), testPass)
			require.Empty(t, ts.Mails())
		})
	}
	t.Run("closed port", func(t *testing.T) {
		cfg := testConfig(&testServer{Host: "127.0.0.1", Port: closedPort(t)})
		n := newNotifier(t, cfg)
		err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
		require.Error(t, err)
		require.False(t, invite.IsPermanent(err))
	})
}

// TestTimeouts: a server that never greets, one that never answers the
// message, and a caller's deadline all end Notify in time with a
// retryable error.
func TestTimeouts(t *testing.T) {
	t.Run("connect", func(t *testing.T) {
		cfg := testConfig(&testServer{Host: "127.0.0.1", Port: silentListener(t)})
		cfg.ConnectTimeout = 200 * time.Millisecond
		n := newNotifier(t, cfg)
		start := time.Now()
		err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
		require.Error(t, err)
		require.Less(t, time.Since(start), 3*time.Second)
		require.False(t, invite.IsPermanent(err))
		var se *invitesmtp.SendError
		require.ErrorAs(t, err, &se)
		require.Equal(t, invitesmtp.StageConnect, se.Stage)
		require.Contains(t, err.Error(), "timeout")
	})
	t.Run("send", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var slow atomic.Bool
		slow.Store(true)
		ts.onData = func(*smtp.Conn, []byte) error {
			if slow.CompareAndSwap(true, false) {
				<-release
			}
			return nil
		}
		cfg := testConfig(ts)
		cfg.SendTimeout = 300 * time.Millisecond
		n := newNotifier(t, cfg)
		start := time.Now()
		err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
		require.Error(t, err)
		require.Less(t, time.Since(start), 3*time.Second)
		require.False(t, invite.IsPermanent(err))
		require.Contains(t, err.Error(), "timeout")
		require.NoError(t, n.Notify(t.Context(), testMessage("b", "ada@example.com")))
	})
	t.Run("caller's deadline", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		ts.onData = func(*smtp.Conn, []byte) error { <-release; return nil }
		n := newNotifier(t, testConfig(ts)) // SendTimeout 5 s
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := n.Notify(ctx, testMessage("a", "ada@example.com"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 3*time.Second)
		require.False(t, invite.IsPermanent(err))
	})
	t.Run("caller's deadline while connecting", func(t *testing.T) {
		cfg := testConfig(&testServer{Host: "127.0.0.1", Port: silentListener(t)}) // ConnectTimeout 5 s
		n := newNotifier(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := n.Notify(ctx, testMessage("a", "ada@example.com"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 3*time.Second)
		require.False(t, invite.IsPermanent(err))
	})
	t.Run("caller's cancellation while waiting for a connection", func(t *testing.T) {
		ts := startServer(t, serverOpts{StartTLS: true})
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		ts.onData = func(*smtp.Conn, []byte) error { entered <- struct{}{}; <-release; return nil }
		n := newNotifier(t, testConfig(ts))
		done := make(chan error, 1)
		go func() { done <- n.Notify(context.Background(), testMessage("a", "ada@example.com")) }()
		<-entered
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		require.ErrorIs(t, n.Notify(ctx, testMessage("b", "ada@example.com")), context.Canceled)
		close(release)
		require.NoError(t, <-done)
	})
}

// TestConcurrency: many Notify calls at once share the connections; every
// message arrives once.
func TestConcurrency(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprint(conns, " connections"), func(t *testing.T) {
			ts := startServer(t, serverOpts{StartTLS: true, Auth: []string{"LOGIN"}})
			cfg := testConfig(ts)
			cfg.Username, cfg.Password = testUser, testPass
			cfg.Connections = conns
			n := newNotifier(t, cfg)
			const total = 64
			var wg sync.WaitGroup
			errs := make(chan error, total)
			for i := range total {
				wg.Go(func() {
					errs <- n.Notify(t.Context(), testMessage(fmt.Sprint("m", i), fmt.Sprintf("user%d@example.com", i)))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			mails := ts.Mails()
			require.Len(t, mails, total)
			seen := map[string]bool{}
			for _, m := range mails {
				p := parseMail(t, m.Data)
				id := p.Header.Get("Message-ID")
				require.False(t, seen[id], "duplicate %s", id)
				seen[id] = true
				to, err := p.Header.AddressList("To")
				require.NoError(t, err)
				require.Equal(t, m.To, []string{to[0].Address})
			}
			require.LessOrEqual(t, ts.sessions.Load(), int32(conns))
		})
	}
}

// TestRedaction: a server reply echoing the link, the token or the code
// never reaches an error or a log line.
func TestRedaction(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	ts.onData = func(*smtp.Conn, []byte) error {
		return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Blocked URL "+testLink+" token "+testToken+" code "+testCode)
	}
	var logs bytes.Buffer
	cfg := testConfig(ts)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := newNotifier(t, cfg)
	err := n.Notify(t.Context(), testMessage("a", "ada@example.com"))
	require.True(t, invite.IsPermanent(err))
	for _, text := range []string{err.Error(), logs.String()} {
		require.NotContains(t, text, testToken)
		require.NotContains(t, text, testCode)
		require.NotContains(t, text, "app.example/invite")
	}
	require.Contains(t, err.Error(), "554")
	require.Contains(t, err.Error(), "Blocked URL [REDACTED]")
	require.Contains(t, logs.String(), "sending failed")
	require.NotContains(t, logs.String(), testPass)
	require.True(t, strings.Count(logs.String(), "\n") >= 2, logs.String())
}
