package deliverytest

import (
	"bytes"
	"encoding/json"
	"html"
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
// server on loopback that fails 30% of the attempts, at every stage of the
// session (the connection dropped at MAIL, 451 at RCPT, 451 or the
// connection dropped at DATA), and the events are posted as signed
// webhooks to a receiver on loopback that answers 500 to 30% of them.
// After draining, every mail (read back from the server and parsed) is a
// multipart/alternative message with the English subject, a Message-ID,
// and the same link in its text and HTML parts; every invitation's newest
// mail carries the link that works; the attempts at one invitation carry
// one Message-ID per link, as invitesmtp documents; and every committed
// event reached the receiver, whose every request verified.
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

			// Mail: every mail the server saw at DATA is well formed;
			// the newest accepted mail of each invitation carries the
			// token the store holds.
			checks := time.Now()
			// With enough invitations, every fault happened, and some
			// invitation was tried with several links (an
			// INVITE_OUTAGE_SIZE of a few might see none).
			enough := n >= 200
			newest := checkMails(t, mx.seen(), enough)
			readBack := time.Since(checks)
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
			t.Logf("%s: %d invitations, %d rounds; SMTP: %d mails accepted, dropped at MAIL %d, 451 at RCPT %d, 451 at DATA %d, dropped at DATA %d, read back in %s; webhooks: %d events, %d answered 500; %s",
				be.name, n, rounds+1, mx.accepted(), mx.faults[faultMail].Load(), mx.faults[faultRcpt].Load(),
				mx.faults[faultData].Load(), mx.faults[faultDataDrop].Load(), readBack.Round(time.Millisecond), committed, rx.failed.Load(),
				time.Since(start).Round(time.Millisecond))
			for f := range mx.faults {
				require.True(t, !enough || mx.faults[f].Load() > 0, "fault %d never happened", f)
			}
		})
	}
}

// The expected subject: the default English template, first delivery,
// account "Acme".
const wantSubject = "You are invited to join Acme"

var (
	linkRE = regexp.MustCompile(`https://app\.example/invite\?token=(` + invite.DefaultTokenPrefix + `[A-Za-z0-9]+)`)
	hrefRE = regexp.MustCompile(`href="([^"]*)"`)
)

// sentMail is what checkMail read from a mail.
type sentMail struct {
	messageID, link, token string
}

// checkMail parses a mail the server received and checks it: a
// multipart/alternative message with the expected subject and a
// Message-ID, whose text part carries one link and whose HTML part links
// to the same one (html-unescaped) and shows it.
func checkMail(t *testing.T, data []byte) sentMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, wantSubject, subject)
	id := msg.Header.Get("Message-ID")
	require.NotEmpty(t, id, "a mail without a Message-ID")
	text, body := mailParts(t, msg)
	links := linkRE.FindAllStringSubmatch(text, -1)
	require.Len(t, links, 1, "the text part carries one link")
	link := links[0][0]
	hrefs := hrefRE.FindAllStringSubmatch(body, -1)
	require.NotEmpty(t, hrefs, "the HTML part has no link")
	for _, h := range hrefs {
		require.Equal(t, link, html.UnescapeString(h[1]), "the HTML part links elsewhere than the text part")
	}
	require.Contains(t, body, ">"+html.EscapeString(link)+"</a>", "the HTML part shows the link")
	return sentMail{messageID: id, link: link, token: links[0][1]}
}

// checkMails checks every mail the server saw at DATA, accepted or not,
// with checkMail, and their Message-IDs as invitesmtp.Notifier.MessageID
// documents them: "<invite.ID.L@domain>", ID the same for every attempt
// at an invitation's delivery, L the same for one link and different for
// two. With wantRetried, some invitation must have been tried with
// several links. It returns the token of each recipient's newest accepted
// mail.
func checkMails(t *testing.T, seen []seenMail, wantRetried bool) (newest map[string]string) {
	t.Helper()
	newest = map[string]string{}
	idOf := map[string]string{}   // link -> Message-ID
	linkOf := map[string]string{} // Message-ID -> link
	prefix := map[string]string{} // recipient -> "<invite.ID."
	links := map[string]map[string]bool{}
	for _, raw := range seen {
		m := checkMail(t, raw.data)
		if raw.accepted {
			newest[raw.to] = m.token
		}
		require.True(t, strings.HasPrefix(m.messageID, "<invite.") && strings.HasSuffix(m.messageID, "@acme.example>"), m.messageID)
		local, _, _ := strings.Cut(m.messageID, "@")
		p := local[:strings.LastIndexByte(local, '.')+1]
		if prev, ok := prefix[raw.to]; ok {
			require.Equal(t, prev, p, "two attempts at one delivery with different message ids")
		}
		prefix[raw.to] = p
		if prev, ok := idOf[m.link]; ok {
			require.Equal(t, prev, m.messageID, "one link, two Message-IDs")
		}
		if prev, ok := linkOf[m.messageID]; ok {
			require.Equal(t, prev, m.link, "two links share a Message-ID")
		}
		idOf[m.link], linkOf[m.messageID] = m.messageID, m.link
		if links[raw.to] == nil {
			links[raw.to] = map[string]bool{}
		}
		links[raw.to][m.link] = true
	}
	several := 0
	for _, l := range links {
		if len(l) > 1 {
			several++
		}
	}
	require.True(t, !wantRetried || several > 0, "no invitation was tried with more than one link")
	return newest
}

// mailParts returns the text/plain and text/html parts of msg, a
// multipart/alternative message.
func mailParts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p) // multipart decodes quoted-printable
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	require.NotEmpty(t, text, "no text/plain part")
	require.NotEmpty(t, html, "no text/html part")
	return text, html
}

// The faults of flakySMTP, a quarter of its failures each.
const (
	faultMail     = iota // the connection dropped on MAIL FROM
	faultRcpt            // 451 to RCPT TO
	faultData            // 451 to DATA
	faultDataDrop        // the connection dropped during DATA
	faultNone
)

// flakySMTP is an SMTP server on loopback that fails a share of the
// messages, spread evenly over the faults above, and keeps the others.
type flakySMTP struct {
	port     int
	failRate float64
	faults   [faultNone]atomic.Int64
	mu       sync.Mutex
	mails    []seenMail // every one seen at DATA, in order
}

type seenMail struct {
	to       string
	data     []byte
	accepted bool
}

func startFlakySMTP(t *testing.T, failRate float64) *flakySMTP {
	t.Helper()
	fs := &flakySMTP{failRate: failRate}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &flakySession{fs: fs, c: c, fault: faultNone}, nil
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

// seen returns the mails seen at DATA so far.
func (fs *flakySMTP) seen() []seenMail {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]seenMail(nil), fs.mails...)
}

// accepted counts the mails accepted so far.
func (fs *flakySMTP) accepted() int {
	n := 0
	for _, m := range fs.seen() {
		if m.accepted {
			n++
		}
	}
	return n
}

type nopSMTPLog struct{}

func (nopSMTPLog) Printf(string, ...any) {}
func (nopSMTPLog) Println(...any)        {}

// flakySession is one session of flakySMTP. Each transaction draws its
// fate at MAIL FROM.
type flakySession struct {
	fs    *flakySMTP
	c     *smtp.Conn
	to    []string
	fault int
}

func (s *flakySession) Mail(string, *smtp.MailOptions) error {
	s.fault = faultNone
	if x := rand.Float64(); x < s.fs.failRate {
		s.fault = int(x / s.fs.failRate * faultNone)
	}
	if s.fault == faultMail {
		s.fs.faults[faultMail].Add(1)
		_ = s.c.Conn().Close()
		return io.ErrUnexpectedEOF
	}
	return nil
}

func (s *flakySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.fault == faultRcpt {
		s.fs.faults[faultRcpt].Add(1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy, try again later"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *flakySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.fs.mu.Lock()
	for _, to := range s.to {
		s.fs.mails = append(s.fs.mails, seenMail{to: to, data: data, accepted: s.fault == faultNone})
	}
	s.fs.mu.Unlock()
	switch s.fault {
	case faultData:
		s.fs.faults[faultData].Add(1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case faultDataDrop:
		s.fs.faults[faultDataDrop].Add(1)
		_ = s.c.Conn().Close()
		return io.ErrUnexpectedEOF
	}
	return nil
}

func (s *flakySession) Reset()        { s.to, s.fault = nil, faultNone }
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
