package invite_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// An inviter may hold a limited number of open invitations: past it,
// Create refuses with a *QuotaError and creates nothing. Replacing one's
// own open invitation of the same person takes no more of the limit, and
// the host may lift the limit for one call.
func ExampleConfig_maxOpenPerInviter() {
	ctx := context.Background()
	m, err := invite.New(memstore.New(), invite.Config{MaxOpenPerInviter: 2})
	if err != nil {
		panic(err)
	}
	invite1 := func(email string, edit ...func(*invite.CreateInput)) error {
		in := invite.CreateInput{
			TenantID: "acme",
			Invitee:  invite.Invitee{Email: email},
			Inviter:  invite.Inviter{ID: "user-ann", Name: "Ann"},
			Delivery: invite.DeliveryReturn,
		}
		for _, e := range edit {
			e(&in)
		}
		_, err := m.Create(ctx, in)
		return err
	}

	fmt.Println(invite1("ada@example.com"), invite1("bob@example.com"))

	err = invite1("cy@example.com")
	var qe *invite.QuotaError
	if errors.As(err, &qe) {
		fmt.Printf("refused: %v (limit %d for %s)\n", errors.Is(err, invite.ErrQuotaExceeded), qe.Limit, qe.InviterID)
	}

	// Inviting Ada again, replacing her open invitation: still two open.
	fmt.Println(invite1("ada@example.com", func(in *invite.CreateInput) { in.Supersede = true }))

	// The host raises the limit for an administrator's call.
	fmt.Println(invite1("cy@example.com", func(in *invite.CreateInput) { in.InviterLimit = 10 }))

	n, err := m.Count(ctx, "acme", invite.Filter{InviterID: "user-ann", Open: true})
	fmt.Println("open:", n, err)

	// Output:
	// <nil> <nil>
	// refused: true (limit 2 for user-ann)
	// <nil>
	// <nil>
	// open: 3 <nil>
}
