package invitesmtp_test

import (
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/memstore"
)

var linkPattern = regexp.MustCompile(`https://app\.example/invite\?token=\S+`)

// TestWithManager: the Notifier behind a Manager and its Dispatcher. A
// greylisted first attempt is retried by the dispatcher and the invitee
// accepts with the link from the delivered mail; a refused recipient is
// dead-lettered at once.
func TestWithManager(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true, Auth: []string{"PLAIN", "LOGIN"}})
	var greylist atomic.Bool
	greylist.Store(true)
	ts.onRcpt = func(to string) error {
		switch {
		case to == "nobody@example.com":
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user")
		case greylist.CompareAndSwap(true, false):
			return smtpErr(451, smtp.EnhancedCode{4, 7, 1}, "Greylisted")
		}
		return nil
	}
	cfg := testConfig(ts)
	cfg.Username, cfg.Password = testUser, testPass
	n := newNotifier(t, cfg)
	clock := invitetest.NewClock(time.Now())
	m, err := invite.New(memstore.New(), invite.Config{
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
		Notifier:     n,
		Now:          clock.Now,
	})
	require.NoError(t, err)
	d, err := m.NewDispatcher(invite.DispatcherConfig{Backoff: func(int) time.Duration { return 0 }})
	require.NoError(t, err)
	ctx := t.Context()

	res, err := m.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, GivenName: "Ada",
		Inviter: invite.Inviter{ID: "u1", Name: "Grace"}, AccountName: "Acme",
	})
	require.NoError(t, err)
	require.ErrorIs(t, res.DeliveryErr, invite.ErrDelivery)
	require.False(t, invite.IsPermanent(res.DeliveryErr))
	require.Empty(t, ts.Mails())

	clock.Advance(time.Hour) // past the inline attempt's grace
	_, err = d.Drain(ctx)
	require.NoError(t, err)
	mails := waitMails(t, ts, 1)
	p := parseMail(t, mails[0].Data)
	require.Equal(t, "Grace invited you to Acme", p.Subject)
	link := linkPattern.FindString(p.Text)
	require.NotEmpty(t, link, p.Text)
	u, err := url.Parse(link)
	require.NoError(t, err)
	acc, err := m.Accept(ctx, u.Query().Get("token"), invite.AcceptInput{Subject: "user-ada"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)

	res, err = m.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "nobody@example.com"}, Inviter: invite.Inviter{ID: "u1"},
	})
	require.NoError(t, err)
	require.True(t, invite.IsPermanent(res.DeliveryErr))
	clock.Advance(time.Hour)
	_, err = d.Drain(ctx)
	require.NoError(t, err)
	dead, err := m.DeadLetters(ctx, "acme", "", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, res.Invitation.ID, dead[0].InvitationID)
	require.Len(t, ts.Mails(), 1)
	require.Equal(t, int32(1), ts.sessions.Load(), "one connection throughout")
}
