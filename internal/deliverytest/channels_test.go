package deliverytest

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
	"github.com/invitekit/invite/invitesmtp"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/invitetmpl"
)

// TestOutageThroughChannels is TestOutage through the real channels: the
// messages are rendered from the default templates and sent over SMTP to a
// server on loopback that refuses (451) or drops the connection on 30% of
// the messages, and the events are posted as signed webhooks to a
// receiver on loopback that answers 500 to 30% of them. After draining,
// every invitation's newest mail (read back from the server and parsed)
// carries the link that works, and every committed event reached the
// receiver, whose every request verified.
func TestOutageThroughChannels(t *testing.T) {
	for _, be := range backends(t) {
		if be.name != "memstore" && be.name != "Postgres" {
			continue // the channels are the point; two stores suffice
		}
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			n := outageSize(be)
			fx := be.open(t)
			st := newRecordingStore(fx.Store)
			clock := invitetest.NewClock(invitetest.Start)

			mx := startFlakySMTP(t, 0.3)
			renderer, err := invitetmpl.New(invitetmpl.Config{})
			require.NoError(t, err)
			notifier, err := invitesmtp.New(invitesmtp.Config{Host: "127.0.0.1", Port: mx.port, TLS: invitesmtp.NoTLS,
				From: "Acme <invites@acme.example>", Renderer: renderer, Connections: 4, Logger: quiet,
				ConnectTimeout: 5 * time.Second, SendTimeout: 5 * time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { _ = notifier.Close() })

			secret := invitehook.NewSecret()
			rx := startFlakyReceiver(t, secret, 0.3)
			sink, err := invitehook.New(invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: rx.URL, Secrets: []string{secret}}},
				Logger: quiet, Timeout: 5 * time.Second})
			require.NoError(t, err)

			m, err := invite.New(st, config(notifier, sink, clock.Now))
			require.NoError(t, err)
			ids := make([]string, n)
			var wg sync.WaitGroup
			const workers = 4
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						res, err := m.Create(t.Context(), invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: email("channels")},
							GivenName: "Ada", Inviter: invite.Inviter{Name: "Grace"}, AccountName: "Acme"})
						if err != nil {
							errs <- err
							return
						}
						ids[i] = res.Invitation.ID
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err, "Create")
			}

			d, err := m.NewDispatcher(invite.DispatcherConfig{ID: "channels", MaxAttempts: 1000,
				Backoff: func(int) time.Duration { return time.Minute }})
			require.NoError(t, err)
			rounds := 0
			for ; ; rounds++ {
				require.Less(t, rounds, 200, "the outbox does not drain")
				clock.Advance(time.Hour)
				_, err := d.Drain(t.Context())
				require.NoError(t, err)
				if s := outboxStats(t, st); s.Pending == 0 {
					require.Zero(t, s.Dead, "dead letters")
					break
				}
			}

			// Mail: the newest accepted mail of each invitation carries
			// the token the store holds.
			tokenRE := regexp.MustCompile(`token=(` + invite.DefaultTokenPrefix + `[A-Za-z0-9]+)`)
			newest := map[string]string{} // recipient -> token of the last mail accepted
			for _, raw := range mx.accepted() {
				msg, err := mail.ReadMessage(bytes.NewReader(raw.data))
				require.NoError(t, err)
				text := mailText(t, msg)
				match := tokenRE.FindStringSubmatch(text)
				require.NotNil(t, match, "a mail without the link")
				newest[raw.to] = match[1]
			}
			invs := listAll(t, st, tenant)
			require.Len(t, invs, n)
			for _, inv := range invs {
				require.Equal(t, invite.StateSent, inv.State, "invitation %s", inv.ID)
				token, ok := newest[inv.Invitee.Email]
				require.True(t, ok, "invitation %s: no mail arrived", inv.ID)
				h, err := invite.ParseToken(invite.DefaultTokenPrefix, token)
				require.NoError(t, err)
				rec, err := st.Get(t.Context(), tenant, inv.ID)
				require.NoError(t, err)
				require.True(t, rec.Credentials.TokenHash.Equal(h), "invitation %s: the newest mail's link does not work", inv.ID)
			}

			// Webhooks: every committed event arrived, every request
			// verified.
			require.Zero(t, rx.unverified.Load(), "requests that failed verification")
			got := rx.ids()
			st.c.mu.Lock()
			for id, ev := range st.c.events {
				require.True(t, got[id], "event %s (%s of %s) never arrived", id, ev.Type, ev.InvitationID)
			}
			committed := len(st.c.events)
			st.c.mu.Unlock()
			t.Logf("%s: %d invitations, %d rounds; SMTP: %d mails accepted, %d refused, %d dropped; webhooks: %d events, %d answered 500; %s",
				be.name, n, rounds+1, len(mx.accepted()), mx.refused.Load(), mx.dropped.Load(), committed, rx.failed.Load(),
				time.Since(start).Round(time.Millisecond))
		})
	}
}

// mailText returns the text/plain part of msg.
func mailText(t *testing.T, msg *mail.Message) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		require.NoError(t, err, "no text/plain part")
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			var r io.Reader = p // multipart decodes quoted-printable
			b, err := io.ReadAll(r)
			require.NoError(t, err)
			return string(b)
		}
	}
}

// flakySMTP is an SMTP server on loopback that refuses (451) or drops the
// connection on a share of the messages, and keeps the others.
type flakySMTP struct {
	port             int
	failRate         float64
	refused, dropped atomic.Int64
	mu               sync.Mutex
	mails            []acceptedMail
}

type acceptedMail struct {
	to   string
	data []byte
}

func startFlakySMTP(t *testing.T, failRate float64) *flakySMTP {
	t.Helper()
	fs := &flakySMTP{failRate: failRate}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &flakySession{fs: fs, c: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = nopSMTPLog{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fs.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = l.Close(); <-done })
	return fs
}

func (fs *flakySMTP) accepted() []acceptedMail {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]acceptedMail(nil), fs.mails...)
}

type nopSMTPLog struct{}

func (nopSMTPLog) Printf(string, ...any) {}
func (nopSMTPLog) Println(...any)        {}

type flakySession struct {
	fs *flakySMTP
	c  *smtp.Conn
	to []string
}

func (s *flakySession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *flakySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *flakySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch x := rand.Float64(); {
	case x < s.fs.failRate/2:
		s.fs.refused.Add(1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case x < s.fs.failRate:
		s.fs.dropped.Add(1)
		_ = s.c.Conn().Close()
		return io.ErrUnexpectedEOF
	}
	s.fs.mu.Lock()
	for _, to := range s.to {
		s.fs.mails = append(s.fs.mails, acceptedMail{to: to, data: data})
	}
	s.fs.mu.Unlock()
	return nil
}

func (s *flakySession) Reset()        { s.to = nil }
func (s *flakySession) Logout() error { return nil }

// flakyReceiver is a webhook receiver on loopback that verifies every
// request and answers 500 to a share of them.
type flakyReceiver struct {
	URL                string
	failed, unverified atomic.Int64
	mu                 sync.Mutex
	got                map[string]bool
}

func startFlakyReceiver(t *testing.T, secret string, failRate float64) *flakyReceiver {
	t.Helper()
	rx := &flakyReceiver{got: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := invitehook.Verify(r.Header, body, secret); err != nil {
			rx.unverified.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rand.Float64() < failRate {
			rx.failed.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var ev invite.Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("webhook-id") {
			rx.unverified.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rx.mu.Lock()
		rx.got[ev.ID] = true
		rx.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	rx.URL = srv.URL
	return rx
}

func (rx *flakyReceiver) ids() map[string]bool {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := make(map[string]bool, len(rx.got))
	for k := range rx.got {
		out[k] = true
	}
	return out
}
