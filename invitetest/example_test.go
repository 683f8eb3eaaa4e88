package invitetest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

// A test follows the link the invitee received, and moves the clock past
// the expiry of a second invitation.
func ExampleNewManager() {
	ctx := context.Background()
	t := exampleT{} // a *testing.T in a real test
	h := invitetest.NewManager(t, invite.Config{
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
	})

	_, err := h.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, Roles: []string{"admin"}})
	if err != nil {
		panic(err)
	}
	msg, _ := h.Notifier.Last("ada@example.com")
	acc, err := h.Accept(ctx, msg.Param("token"), invite.AcceptInput{Subject: "user-1"})
	if err != nil {
		panic(err)
	}
	fmt.Println("accepted by", acc.Invitation.AcceptedBy, "with roles", acc.Invitation.Roles)

	_, err = h.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "bob@example.com"}, ExpiresIn: time.Hour})
	if err != nil {
		panic(err)
	}
	h.Clock.Advance(2 * time.Hour)
	msg, _ = h.Notifier.Last("bob@example.com")
	_, err = h.Accept(ctx, msg.Param("token"), invite.AcceptInput{Subject: "user-2"})
	fmt.Println("later, expired:", errors.Is(err, invite.ErrExpired))
	fmt.Println("events:", h.Events.Types())
	// Output:
	// accepted by user-1 with roles [admin]
	// later, expired: true
	// events: [invitation.created invitation.sent invitation.accepted invitation.created invitation.sent]
}

// exampleT stands in for the *testing.T an example has not got.
type exampleT struct{}

func (exampleT) Helper()                        {}
func (exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
