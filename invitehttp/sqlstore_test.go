package invitehttp_test

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/sqlstore"
)

// The adapter on the SQL store (SQLite), without a host transaction: each
// request is the Manager's own atomic write.
func TestOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invite.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(t.Context()))
	clock := invitetest.NewClock(invitetest.Start)
	m, err := invite.New(store, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}", Now: clock.Now,
		CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)
	e := serve(t, nil, m, func(c *invitehttp.Config) { c.Retryable = sqlstore.IsRetryable })

	c := e.create("ada@example.com", map[string]any{"given_name": "Ada"})
	e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "ada@example.com"}, "delivery": "return"}).
		problem(t, 409, "already-exists")
	r := e.admin("GET", "/tenants/acme/invitations?total=true&search=ada", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), `"total":1`)
	r = e.admin("PATCH", "/tenants/acme/invitations/"+c.Invitation.ID, map[string]any{"roles": []string{"owner"}}, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	e.admin("PATCH", "/tenants/acme/invitations/"+c.Invitation.ID, map[string]any{"roles": []string{"x"}}, "If-Match", `"1"`).
		problem(t, 412, "precondition-failed")
	require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil).status)
	r = e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), `"owner"`)
	e.do("GET", "/public/invitations/"+c.Token, nil).problem(t, 410, "already-accepted")
	r = e.admin("GET", "/tenants/acme/dead-letters", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	// A failing database is a 500 that says nothing of it.
	require.NoError(t, db.Close())
	p := e.admin("GET", "/tenants/acme/invitations/"+c.Invitation.ID, nil).problem(t, 500, "internal")
	require.NotContains(t, strings.ToLower(p.Detail), "sql")
}
