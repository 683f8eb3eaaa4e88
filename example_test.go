package invite_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// The examples run on a fixed clock so that their output is stable. They
// never print ids, tokens or codes: those are random, and tokens and codes
// are secrets that belong in the invitee's inbox, not in a log.

// Create an invitation, deliver it through a Notifier, and accept it.
func ExampleManager_Create() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	// A real notifier renders msg.Vars.Map() into an email or SMS. It must
	// never log the link or the code; printed with fmt they are redacted.
	notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
		v := msg.Vars
		fmt.Printf("notify %s to %s (template %q, locale %q)\n", msg.Channel, msg.To, msg.TemplateKey, msg.Locale)
		fmt.Printf("  name=%q invited_by=%q account_name=%q expires_at=%s\n",
			v.Name, v.InvitedBy, v.AccountName, v.ExpiresAt.Format(time.RFC3339))
		fmt.Printf("  invite_link=%v\n", v.InviteLink)
		return nil
	})
	m, err := invite.New(memstore.New(), invite.Config{
		Now:          func() time.Time { return now },
		Notifier:     notifier,
		LinkTemplate: "https://app.example/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.TenantID}}",
	})
	if err != nil {
		panic(err)
	}

	res, err := m.Create(ctx, invite.CreateInput{
		TenantID:    "acme",
		Invitee:     invite.Invitee{Email: "ada@example.com"},
		GivenName:   "Ada",
		FamilyName:  "Lovelace",
		Inviter:     invite.Inviter{ID: "admin-1", Name: "Charles Babbage"},
		AccountName: "Acme Corp",
		Locale:      "en-GB",
		Roles:       []string{"editor"},
		Groups:      []string{"engineering"},
		Data:        map[string]string{"department": "R&D", "title": "Analyst"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", res.Invitation.State, "sends:", res.Invitation.SendCount)

	// The invitee follows the link; the host reads the token from it and
	// accepts on behalf of the user who just registered or signed in.
	acc, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1815"})
	if err != nil {
		panic(err)
	}
	inv := acc.Invitation
	fmt.Println("state:", inv.State, "by:", inv.AcceptedBy)
	fmt.Println("grant roles:", inv.Roles, "groups:", inv.Groups)
	fmt.Println("pre-filled:", inv.Data)

	// Output:
	// notify email to ada@example.com (template "invite", locale "en-GB")
	//   name="Ada Lovelace" invited_by="Charles Babbage" account_name="Acme Corp" expires_at=2026-01-09T03:04:05Z
	//   invite_link=[REDACTED]
	// state: sent sends: 1
	// state: accepted by: user-1815
	// grant roles: [editor] groups: [engineering]
	// pre-filled: map[department:R&D title:Analyst]
}

// With DeliveryReturn nothing is sent: the caller gets the token and the
// link exactly once (only the token's hash is stored) and delivers them
// itself.
func ExampleManager_Create_returnToken() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{
		Now:          func() time.Time { return now },
		LinkTemplate: "https://app.example/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.TenantID}}",
	})
	if err != nil {
		panic(err)
	}

	res, err := m.Create(ctx, invite.CreateInput{
		TenantID: "acme corp",
		Invitee:  invite.Invitee{UserID: "user/42"},
		Delivery: invite.DeliveryReturn,
	})
	if err != nil {
		panic(err)
	}
	// Secrets never print: not with fmt, slog or encoding/json.
	fmt.Println("token:", res.Token, "link:", res.Link)

	// Reveal is the one way to the plaintext.
	token := res.Token.Reveal()
	fmt.Println("prefix:", token[:len(invite.DefaultTokenPrefix)], "length:", len(token))
	// Template values are URL-escaped ({{.Code}} is the token).
	fmt.Println(strings.Replace(res.Link.Reveal(), token, "<token>", 1))

	// What a registration page shows for the token.
	inv, err := m.Lookup(ctx, token)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", inv.State, "sends:", inv.SendCount, "user:", inv.Invitee.UserID)

	// Output:
	// token: [REDACTED] link: [REDACTED]
	// prefix: inv_ length: 54
	// https://app.example/invite?userID=user%2F42&code=<token>&orgID=acme%20corp
	// state: pending sends: 0 user: user/42
}

// Resend mints a new secret and restarts the expiry: the previous token
// stops working at once (unless Config.KeepPreviousTokens).
func ExampleManager_Resend() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{
		Now: func() time.Time { return now },
		Notifier: invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
			fmt.Println("notify", msg.To, "resend:", msg.Resend, "expires:", msg.Vars.ExpiresAt.Format(time.RFC3339))
			return nil
		}),
		LinkTemplate: "https://app.example/invite?code={{.Code}}",
	})
	if err != nil {
		panic(err)
	}

	first, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "grace@example.com"}})
	if err != nil {
		panic(err)
	}

	now = now.Add(48 * time.Hour) // "I never got the email"
	second, err := m.Resend(ctx, "acme", first.Invitation.ID, invite.ResendOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", second.Invitation.State, "sends:", second.Invitation.SendCount)

	_, err = m.Lookup(ctx, first.Token.Reveal())
	fmt.Println("old token invalid:", errors.Is(err, invite.ErrInvalidToken))

	acc, err := m.Accept(ctx, second.Token.Reveal(), invite.AcceptInput{Subject: "user-1906"})
	if err != nil {
		panic(err)
	}
	fmt.Println("new token:", acc.Invitation.State)

	// Output:
	// notify grace@example.com resend: false expires: 2026-01-09T03:04:05Z
	// notify grace@example.com resend: true expires: 2026-01-11T03:04:05Z
	// state: sent sends: 2
	// old token invalid: true
	// new token: accepted
}

// Upsert creates an invitation, or updates the invitee's open one in place
// (an HTTP PUT): data, grants and names are replaced and the expiry
// restarts, while the secret stays valid and nothing is sent.
func ExampleManager_Upsert() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	in := invite.CreateInput{
		TenantID: "acme",
		Invitee:  invite.Invitee{Email: "alan@example.com"},
		Roles:    []string{"viewer"},
		Data:     map[string]string{"team": "blue"},
		Delivery: invite.DeliveryReturn,
	}

	first, err := m.Upsert(ctx, in)
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", first.Created, "has token:", !first.Token.IsZero(),
		"expires:", first.Invitation.ExpiresAt.Format(time.RFC3339))

	now = now.Add(24 * time.Hour)
	in.Roles = []string{"viewer", "editor"}
	in.Data = map[string]string{"team": "red"}
	second, err := m.Upsert(ctx, in)
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", second.Created, "has token:", !second.Token.IsZero(),
		"expires:", second.Invitation.ExpiresAt.Format(time.RFC3339))
	fmt.Println("same invitation:", second.Invitation.ID == first.Invitation.ID)
	fmt.Println("roles:", second.Invitation.Roles, "data:", second.Invitation.Data)

	// The first token still opens the updated invitation.
	inv, err := m.Lookup(ctx, first.Token.Reveal())
	if err != nil {
		panic(err)
	}
	fmt.Println("lookup data:", inv.Data)

	// Output:
	// created: true has token: true expires: 2026-01-09T03:04:05Z
	// created: false has token: false expires: 2026-01-10T03:04:05Z
	// same invitation: true
	// roles: [viewer editor] data: map[team:red]
	// lookup data: map[team:red]
}

// A short code, for an SMS or a code typed into a form, is checked against
// the invitee (or the invitation id). Wrong codes count as failed attempts;
// after Config.CodeMaxAttempts of them the code is locked.
func ExampleManager_AcceptCode() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var code string // in real life, it reaches the invitee by SMS
	m, err := invite.New(memstore.New(), invite.Config{
		Now: func() time.Time { return now },
		Notifier: invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
			fmt.Println("notify", msg.Channel, "to", msg.To, "code:", msg.Vars.Code)
			code = msg.Vars.Code.Reveal()
			return nil
		}),
		// Cheap hashing so the example runs fast; keep the default in
		// production.
		CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	if err != nil {
		panic(err)
	}

	_, err = m.Create(ctx, invite.CreateInput{
		TenantID:  "acme",
		Invitee:   invite.Invitee{Phone: "+44 20 7946 0958"},
		GivenName: "Mary",
		Roles:     []string{"member"},
		WithCode:  true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("code length:", len(code))

	ref := invite.CodeRef{TenantID: "acme", Phone: "+442079460958"}
	wrong := strings.Map(func(r rune) rune {
		if r == '2' {
			return '3'
		}
		return '2'
	}, code) // differs from code in every character
	_, err = m.AcceptCode(ctx, ref, wrong, invite.AcceptInput{Subject: "user-1"})
	fmt.Println("wrong code:", errors.Is(err, invite.ErrInvalidCode))

	// VerifyCode checks without consuming: show the registration form.
	inv, err := m.VerifyCode(ctx, ref, strings.ToLower(code))
	if err != nil {
		panic(err)
	}
	fmt.Println("verified for:", inv.GivenName, "state:", inv.State)

	acc, err := m.AcceptCode(ctx, ref, code, invite.AcceptInput{Subject: "user-1"})
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", acc.Invitation.State, "roles:", acc.Invitation.Roles)

	// Output:
	// notify sms to +442079460958 code: [REDACTED]
	// code length: 8
	// wrong code: true
	// verified for: Mary state: sent
	// state: accepted roles: [member]
}

// List filters a tenant's invitations and pages through them with an
// opaque cursor, oldest first.
func ExampleManager_List() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := invite.New(memstore.New(), invite.Config{
		Now:          func() time.Time { return now },
		Notifier:     invite.NotifierFunc(func(context.Context, invite.Message) error { return nil }),
		LinkTemplate: "https://app.example/invite?code={{.Code}}",
	})
	if err != nil {
		panic(err)
	}
	create := func(email string, d invite.Delivery) *invite.Result {
		now = now.Add(time.Minute)
		res, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: email}, Delivery: d})
		if err != nil {
			panic(err)
		}
		return res
	}
	create("a@example.com", invite.DeliveryReturn) // stays pending
	create("b@example.com", invite.DeliverySend)   // sent
	c := create("c@example.com", invite.DeliverySend)
	if _, err := m.Accept(ctx, c.Token.Reveal(), invite.AcceptInput{Subject: "user-c"}); err != nil {
		panic(err)
	}
	d := create("d@example.com", invite.DeliveryReturn)
	if _, err := m.Revoke(ctx, "acme", d.Invitation.ID, "wrong address"); err != nil {
		panic(err)
	}
	create("e@example.com", invite.DeliverySend)

	show := func(title string, opts invite.ListOptions) *invite.Page {
		page, err := m.List(ctx, "acme", opts)
		if err != nil {
			panic(err)
		}
		fmt.Print(title, ":")
		for _, inv := range page.Invitations {
			fmt.Printf(" %s(%s)", inv.Invitee.Email, inv.State)
		}
		fmt.Println(" more:", page.NextCursor != "")
		return page
	}
	show("open", invite.ListOptions{Filter: invite.Filter{Open: true}}) // pending or sent
	show("closed", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StateAccepted, invite.StateRevoked}}})
	show("by email", invite.ListOptions{Filter: invite.Filter{Email: "C@Example.com"}})

	opts := invite.ListOptions{Limit: 2}
	for i := 1; ; i++ {
		page := show(fmt.Sprint("page ", i), opts)
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}

	// Output:
	// open: a@example.com(pending) b@example.com(sent) e@example.com(sent) more: false
	// closed: c@example.com(accepted) d@example.com(revoked) more: false
	// by email: c@example.com(accepted) more: false
	// page 1: a@example.com(pending) b@example.com(sent) more: true
	// page 2: c@example.com(accepted) d@example.com(revoked) more: true
	// page 3: e@example.com(sent) more: false
}

// Deliver what the first attempt could not: the dispatcher retries a
// message the notifier refused, with a fresh link, and publishes the
// events. A service runs it with go d.Run(ctx); Drain delivers what is
// due now and returns.
func ExampleManager_NewDispatcher() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	down := true
	notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
		if down {
			return errors.New("smtp: connection refused")
		}
		fmt.Println("sent to", msg.To, "resend:", msg.Resend)
		return nil
	})
	sink := invite.EventSinkFunc(func(ctx context.Context, events []invite.Event) error {
		for _, e := range events {
			fmt.Println("event", e.Type, "version", e.Version)
		}
		return nil
	})
	m, err := invite.New(memstore.New(), invite.Config{
		Now:          func() time.Time { return now },
		Notifier:     notifier,
		EventSink:    sink,
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
	})
	if err != nil {
		panic(err)
	}
	d, err := m.NewDispatcher(invite.DispatcherConfig{Concurrency: 1})
	if err != nil {
		panic(err)
	}

	res, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("first attempt failed:", errors.Is(res.DeliveryErr, invite.ErrDelivery))
	if _, err := d.Drain(ctx); err != nil { // the events; the message waits for its turn
		panic(err)
	}

	down = false
	now = now.Add(time.Minute) // the first attempt's time is up
	if _, err := d.Drain(ctx); err != nil {
		panic(err)
	}
	inv, err := m.Get(ctx, "acme", res.Invitation.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", inv.State, "sends:", inv.SendCount)
	_, err = m.Lookup(ctx, res.Token.Reveal())
	fmt.Println("the link Create returned:", err)
	// Output:
	// first attempt failed: true
	// event invitation.created version 1
	// sent to ada@example.com resend: false
	// event invitation.sent version 3
	// state: sent sends: 1
	// the link Create returned: invite: invalid token
}
