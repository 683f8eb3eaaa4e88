package invite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// An administrator accepts an invitation on the invitee's behalf (say, the
// invitee confirmed by phone): by the invitation's id, with no token. The
// acceptance is single-use exactly as the invitee's own, hands back the
// grants, and the event names the admin.
func ExampleManager_AcceptByID() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{
		Now: func() time.Time { return now },
		EventSink: invite.EventSinkFunc(func(ctx context.Context, events []invite.Event) error {
			for _, e := range events {
				who := e.Actor.Kind
				if e.Actor.ID != "" {
					who += " " + e.Actor.ID
				}
				fmt.Println("event", e.Type, "by", who)
			}
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	res, err := m.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"},
		Roles: []string{"editor"}, Groups: []string{"engineering"},
		Delivery: invite.DeliveryReturn,
	})
	if err != nil {
		panic(err)
	}

	acc, err := m.AcceptByID(ctx, "acme", res.Invitation.ID, invite.AdminAcceptInput{
		Subject: "user-1815",
		Actor:   invite.Actor{ID: "admin-7"}, // or invite.WithActor on ctx
	})
	if err != nil {
		panic(err)
	}
	inv := acc.Invitation
	fmt.Println("state:", inv.State, "by:", inv.AcceptedBy, "replayed:", acc.Replayed)
	fmt.Println("grant roles:", inv.Roles, "groups:", inv.Groups)

	// The invitee's link now answers that it was accepted; the same
	// subject again is a replay, another one is refused.
	_, err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1815"})
	fmt.Println("invitee, same subject:", err)
	_, err = m.AcceptByID(ctx, "acme", res.Invitation.ID, invite.AdminAcceptInput{Subject: "user-1816"})
	fmt.Println("admin, another subject:", errors.Is(err, invite.ErrAlreadyAccepted))

	// The events wait in the store's outbox for a dispatcher.
	d, err := m.NewDispatcher(invite.DispatcherConfig{Concurrency: 1})
	if err != nil {
		panic(err)
	}
	if _, err := d.Drain(ctx); err != nil {
		panic(err)
	}

	// Output:
	// state: accepted by: user-1815 replayed: false
	// grant roles: [editor] groups: [engineering]
	// invitee, same subject: <nil>
	// admin, another subject: true
	// event invitation.created by admin
	// event invitation.accepted by admin admin-7
}

// UpdateAndResend edits an invitation and sends it again with a new
// secret, in one write: the message already shows the edit.
func ExampleManager_UpdateAndResend() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{
		Now: func() time.Time { return now },
		Notifier: invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
			fmt.Printf("notify %s resend: %t name: %q\n", msg.To, msg.Resend, msg.Vars.Name)
			return nil
		}),
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
	})
	if err != nil {
		panic(err)
	}
	res, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, GivenName: "Ada"})
	if err != nil {
		panic(err)
	}

	now = now.Add(24 * time.Hour) // "my name is misspelt, and I lost the mail"
	name, family := "Ada", "Lovelace"
	out, err := m.UpdateAndResend(ctx, invite.UpdateInput{TenantID: "acme", ID: res.Invitation.ID,
		GivenName: &name, FamilyName: &family}, invite.ResendOptions{})
	if err != nil {
		panic(err)
	}
	inv := out.Invitation
	fmt.Println("state:", inv.State, "re-sent:", inv.ResendCount, "times, last:", inv.LastResentAt.Format(time.RFC3339))
	fmt.Println("new token returned:", !out.Token.IsZero())
	_, err = m.Lookup(ctx, res.Token.Reveal())
	fmt.Println("old token invalid:", errors.Is(err, invite.ErrInvalidToken))

	// Output:
	// notify ada@example.com resend: false name: "Ada"
	// notify ada@example.com resend: true name: "Ada Lovelace"
	// state: sent re-sent: 1 times, last: 2026-01-03T03:04:05Z
	// new token returned: true
	// old token invalid: true
}

// A page behind the invitation link can tell the token holder that the
// invitation was already accepted, has expired or was revoked, and show
// who invited them to what: Lookup's error carries the public view.
func ExampleManager_Lookup_closed() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	res, err := m.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, GivenName: "Ada",
		Inviter: invite.Inviter{ID: "admin-7", Name: "Charles"}, AccountName: "Acme Corp",
		Roles: []string{"editor"}, Metadata: json.RawMessage(`{"cost_center":"R&D"}`),
		IdempotencyKey: "req-1", ExpiresIn: 48 * time.Hour, Delivery: invite.DeliveryReturn,
	})
	if err != nil {
		panic(err)
	}

	now = now.Add(72 * time.Hour)
	_, err = m.Lookup(ctx, res.Token.Reveal())
	fmt.Println("expired:", errors.Is(err, invite.ErrExpired))
	var te *invite.TransitionError
	if errors.As(err, &te) && te.Public != nil {
		p := te.Public
		fmt.Printf("%s invited %s to %s as %v; %s since %s\n", p.InviterName, p.Name(), p.AccountName, p.Roles,
			p.State, p.ExpiresAt.Format(time.RFC3339))
		b, _ := json.Marshal(p) // no ids, metadata, idempotency key or secrets
		fmt.Println(string(b))
	}

	// Output:
	// expired: true
	// Charles invited Ada to Acme Corp as [editor]; expired since 2026-01-04T03:04:05Z
	// {"tenant_id":"acme","account_name":"Acme Corp","inviter_name":"Charles","email":"ada@example.com","given_name":"Ada","roles":["editor"],"state":"expired","expires_at":"2026-01-04T03:04:05Z"}
}
