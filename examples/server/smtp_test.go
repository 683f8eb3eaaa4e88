package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/invitekit/invite"
)

// TestSMTPFlag: -smtp builds the SMTP notifier, which delivers a rendered
// message to a server on loopback; bad URLs are refused without echoing
// the password.
func TestSMTPFlag(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &recordSession{save: func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }}, nil
	}))
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout = "mx.test", 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	n, err := smtpNotifier("smtp://"+l.Addr().String()+"?tls=none", "Acme <invites@acme.example>", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	msg := invite.Message{ID: "m-1", TenantID: "acme", InvitationID: "inv-1", Channel: invite.ChannelEmail, To: "ada@example.com",
		Locale: "en", TemplateKey: "invite", Vars: invite.Vars{Name: "Ada", InvitedBy: "Grace", AccountName: "Acme",
			InviteLink: invite.NewSecret("http://localhost:8080/invite/inv_x"), ExpiresAt: time.Now().Add(time.Hour)}}
	if err := n.Notify(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "http://localhost:8080/invite/inv_x") || !strings.Contains(got[0], "Acme") {
		t.Fatalf("received %q", got)
	}

	for _, bad := range []string{"http://host", "smtp://", "smtp://u:hunter2@host:x", "smtp://u:hunter2@host?tls=maybe"} {
		_, err := smtpNotifier(bad, "invites@acme.example", quietLogger())
		if err == nil {
			t.Errorf("%s: want an error", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
}

type recordSession struct {
	save func(string)
}

func (s *recordSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *recordSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *recordSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.save(string(b))
	}
	return err
}
func (s *recordSession) Reset()        {}
func (s *recordSession) Logout() error { return nil }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
