// Command quickstart walks one invitation through its whole lifecycle on the
// in-memory store: create, look up, resend, accept, list, expire and purge.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	// A clock we can move, to show expiry without waiting a week.
	now := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	var inbox string // the link of the last message "sent"

	// The notifier stands in for an email provider. DEMO ONLY: it prints the
	// invitation link because that is what the email would contain. A real
	// notifier renders msg.Vars.Map() into its template and hands the result
	// to its transport; it must never log the link or the code (printed with
	// fmt or slog, msg.Vars shows them as [REDACTED]).
	notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
		v := msg.Vars
		inbox = v.InviteLink.Reveal()
		fmt.Fprintf(w, "  %s to %s: Hi %s, %s invited you to join %s. %s (valid until %s)\n",
			msg.Channel, msg.To, v.Name, v.InvitedBy, v.AccountName, inbox, v.ExpiresAt.Format(time.DateOnly))
		return nil
	})
	// Events arrive after the change that caused them has committed; a real
	// sink forwards them to a queue or webhook (they never carry a secret).
	sink := invite.EventSinkFunc(func(ctx context.Context, events []invite.Event) error {
		for _, e := range events {
			actor := e.Actor.Kind
			if e.Actor.ID != "" {
				actor += ":" + e.Actor.ID
			}
			fmt.Fprintf(w, "  event %-22s by %s\n", e.Type, actor)
		}
		return nil
	})
	m, err := invite.New(memstore.New(), invite.Config{
		Now:          func() time.Time { return now },
		Notifier:     notifier,
		EventSink:    sink,
		LinkTemplate: "https://app.example/invite?code={{.Code}}&orgID={{.TenantID}}",
	})
	if err != nil {
		return err
	}
	// Changes made through this context are attributed to the admin.
	ctx := invite.WithActor(context.Background(), invite.Actor{Kind: invite.ActorAdmin, ID: "admin-7"})

	fmt.Fprintln(w, "1. An admin invites Ada")
	in := invite.CreateInput{
		TenantID:    "acme",
		Invitee:     invite.Invitee{Email: "ada@example.com"},
		GivenName:   "Ada",
		FamilyName:  "Lovelace",
		Inviter:     invite.Inviter{ID: "admin-7", Name: "Charles"},
		AccountName: "Acme Corp",
		Roles:       []string{"editor"},
		Groups:      []string{"engineering"},
		Data:        map[string]string{"department": "R&D"},
	}
	res, err := m.Create(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  state:", res.Invitation.State, "| res.Token prints as:", res.Token)

	fmt.Fprintln(w, "2. Ada opens the link: the registration form is pre-filled (nothing changes)")
	first := tokenFrom(inbox)
	inv, err := m.Lookup(ctx, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  email=%s name=%q data=%v invited by %s, expires %s\n", inv.Invitee.Email, inv.Name(),
		inv.Data, inv.Inviter.Name, inv.ExpiresAt.Format(time.DateOnly))

	fmt.Fprintln(w, "3. Inviting Ada again while her invitation is open")
	if _, err := m.Create(ctx, in); !errors.Is(err, invite.ErrAlreadyExists) {
		return fmt.Errorf("duplicate create: want ErrAlreadyExists, got %v", err)
	}
	fmt.Fprintln(w, "  ErrAlreadyExists (set Supersede to replace it, or use Upsert)")

	fmt.Fprintln(w, "4. A day later, the admin resends: a new link, the old one stops working")
	now = now.Add(24 * time.Hour)
	res, err = m.Resend(ctx, "acme", res.Invitation.ID, invite.ResendOptions{})
	if err != nil {
		return err
	}
	if _, err := m.Lookup(ctx, first); !errors.Is(err, invite.ErrInvalidToken) {
		return fmt.Errorf("old link: want ErrInvalidToken, got %v", err)
	}
	fmt.Fprintln(w, "  sends:", res.Invitation.SendCount, "| old link: ErrInvalidToken")

	fmt.Fprintln(w, "5. Ada registers as user-1815 and accepts; the host applies the grants")
	token := tokenFrom(inbox)
	acc, err := m.Accept(ctx, token, invite.AcceptInput{Subject: "user-1815", Email: "ada@example.com"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  state=%s roles=%v groups=%v data=%v\n", acc.Invitation.State, acc.Invitation.Roles,
		acc.Invitation.Groups, acc.Invitation.Data)

	fmt.Fprintln(w, "6. The accept request is retried, then someone else tries the link")
	acc, err = m.Accept(ctx, token, invite.AcceptInput{Subject: "user-1815"})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  same subject: replayed =", acc.Replayed)
	if _, err := m.Accept(ctx, token, invite.AcceptInput{Subject: "user-666"}); !errors.Is(err, invite.ErrAlreadyAccepted) {
		return fmt.Errorf("other subject: want ErrAlreadyAccepted, got %v", err)
	}
	fmt.Fprintln(w, "  other subject: ErrAlreadyAccepted")

	fmt.Fprintln(w, "7. Bob is invited too, and the admin lists the tenant")
	if _, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "bob@example.com"},
		GivenName: "Bob", Inviter: invite.Inviter{ID: "admin-7", Name: "Charles"}, AccountName: "Acme Corp"}); err != nil {
		return err
	}
	if err := list(ctx, w, m); err != nil {
		return err
	}

	fmt.Fprintln(w, "8. Bob never answers; eight days later the expiry sweep closes his invitation")
	now = now.Add(8 * 24 * time.Hour)
	n, err := m.ExpireDue(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  expired:", n)
	if err := list(ctx, w, m); err != nil {
		return err
	}

	fmt.Fprintln(w, "9. A month on, closed invitations past the 30-day retention are purged (no events)")
	now = now.Add(31 * 24 * time.Hour)
	if n, err = m.Purge(ctx, 30*24*time.Hour, 0); err != nil {
		return err
	}
	fmt.Fprintln(w, "  purged:", n)
	return list(ctx, w, m)
}

// list prints every invitation of the tenant, expired ones included.
func list(ctx context.Context, w io.Writer, m *invite.Manager) error {
	page, err := m.List(ctx, "acme", invite.ListOptions{Filter: invite.Filter{IncludeExpired: true}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %d invitation(s):", len(page.Invitations))
	for _, inv := range page.Invitations {
		fmt.Fprintf(w, " %s=%s", inv.Invitee.Email, inv.State)
	}
	fmt.Fprintln(w)
	return nil
}

// tokenFrom reads the token out of an invitation link, as the host's
// /invite handler would.
func tokenFrom(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get("code")
}
