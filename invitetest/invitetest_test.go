package invitetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

func TestClock(t *testing.T) {
	start := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	c := invitetest.NewClock(start)
	require.Equal(t, start, c.Now())
	c.Advance(time.Hour)
	require.Equal(t, start.Add(time.Hour), c.Now())
	c.Set(start)
	require.Equal(t, start, c.Now())
}

func TestNotifierRecordsPlaintextAndFails(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/i?token={{.Token}}&org={{.TenantID}}"})
	res, err := h.Create(t.Context(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, WithCode: true})
	require.NoError(t, err)
	msg, ok := h.Notifier.Last("ada@example.com")
	require.True(t, ok)
	require.Equal(t, res.Token.Reveal(), msg.Param("token"))
	require.Equal(t, "acme", msg.Param("org"))
	require.Equal(t, res.Code.Reveal(), msg.Code)
	require.Equal(t, res.Link.Reveal(), msg.Link)
	_, ok = h.Notifier.Last("nobody@example.com")
	require.False(t, ok)

	down := errors.New("smtp down")
	h.Notifier.Fail(down)
	res, err = h.Create(t.Context(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "bob@example.com"}})
	require.NoError(t, err)
	require.ErrorIs(t, res.DeliveryErr, down)
	require.Len(t, h.Notifier.Messages(), 1, "a failed delivery records nothing")
	h.Notifier.Reset()
	require.Empty(t, h.Notifier.Messages())
}

func TestEventLogAndDefaults(t *testing.T) {
	var logged bool
	h := invitetest.NewManager(t, invite.Config{Now: func() time.Time { logged = true; return time.Now() }})
	require.Nil(t, h.Clock, "a Now the caller set is kept")
	_, err := h.Create(context.Background(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Phone: "+4915112345678"}, Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.True(t, logged)
	require.Equal(t, []invite.EventType{invite.EventCreated}, h.Events.Types())
	ev := h.Events.Events()[0]
	ev.New.Roles = append(ev.New.Roles, "mutated")
	require.Empty(t, h.Events.Events()[0].New.Roles, "the log keeps its own copies")
	h.Events.Reset()
	require.Empty(t, h.Events.Types())
	require.Equal(t, invitetest.FastCodeHash, h.Config.CodeHashParams)
}

// fatalT records Fatalf instead of stopping the test.
type fatalT struct{ msg string }

func (*fatalT) Helper()                             {}
func (f *fatalT) Fatalf(format string, args ...any) { f.msg = format }

func TestNewManagerFailsOnABadConfig(t *testing.T) {
	var ft fatalT
	invitetest.NewManager(&ft, invite.Config{DefaultExpiry: -time.Hour})
	require.Contains(t, ft.msg, "invite.New")
}
