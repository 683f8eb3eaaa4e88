package invite_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestJSONGolden pins the JSON form of Invitation, Event and
// PublicInvitation, a public
// format hosts put on the wire: a change to a name, a type or an omission
// rule fails here (go test -run TestJSONGolden -update rewrites the files
// after a deliberate change, which hosts see as a breaking change).
func TestJSONGolden(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 123456000, time.UTC)
	full := &invite.Invitation{
		ID: "01938a6e-0000-7000-8000-000000000001", TenantID: "acme",
		Invitee:   invite.Invitee{Email: "ada@example.com", Phone: "+441234567890", UserID: "user-7"},
		GivenName: "Ada", FamilyName: "Lovelace",
		Inviter:     invite.Inviter{ID: "admin-1", Name: "Grace Hopper"},
		AccountName: "Analytical Engines",
		Roles:       []string{"admin", "billing"}, Groups: []string{"engineering"},
		Data:      map[string]string{"plan": "pro"},
		FormData:  map[string]map[string]string{"profile": {"title": "Countess"}},
		Variables: map[string]string{"application_name": "Ledger"},
		Metadata:  json.RawMessage(`{"source":"crm"}`), ClientID: "web",
		IdentityProviderID: "google", RedirectURI: "https://app.example/register",
		LinkTemplate: "https://app.example/i/{token}", TemplateKey: "invite", Locale: "en-GB",
		RequireEmailMatch: true, HasCode: true, State: invite.StateAccepted,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), IssuedAt: at, ExpiresAt: at.Add(7 * 24 * time.Hour),
		SentAt: at.Add(time.Minute), SendCount: 2, ResendCount: 1, LastResentAt: at.Add(30 * time.Second), ClosedAt: at.Add(time.Hour),
		AcceptedBy: "user-7", Reason: "", IdempotencyKey: "req-1", Version: 4,
	}
	minimal := &invite.Invitation{ID: "01938a6e-0000-7000-8000-000000000002", TenantID: "acme",
		Invitee: invite.Invitee{Email: "bob@example.com"}, State: invite.StatePending,
		CreatedAt: at, UpdatedAt: at, IssuedAt: at, ExpiresAt: at.Add(24 * time.Hour), Version: 1}
	ev := invite.Event{ID: "01938a6e-0000-7000-8000-0000000000e1", Type: invite.EventAccepted, Time: at.Add(time.Hour),
		TenantID: "acme", InvitationID: full.ID, Version: 4, Actor: invite.Actor{Kind: invite.ActorInvitee, ID: "user-7"},
		Old: minimal, New: full}
	pub := *full
	pub.State = invite.StateRevoked
	for name, v := range map[string]any{"invitation.json": full, "invitation_minimal.json": minimal, "event.json": ev,
		"public.json": pub.Public()} {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", name)
			if *updateGolden {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestJSONGolden -update to create it")
			require.Equal(t, string(want), string(got))
		})
	}
}
