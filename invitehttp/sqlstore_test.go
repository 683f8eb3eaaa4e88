package invitehttp_test

import (
	"context"
	"database/sql"
	"errors"
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

type txKey struct{}

// TestTransactOnSQLite: with Config.Transact, the acceptance and the
// host's own writes in Accepted commit together: a failing Accepted
// leaves the invitation open and writes no user.
func TestTransactOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invite.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(t.Context()))
	_, err = db.Exec("CREATE TABLE users (id TEXT PRIMARY KEY)")
	require.NoError(t, err)
	m, err := invite.New(store, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}",
		CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err)
	e := serve(t, nil, m, func(c *invitehttp.Config) {
		c.Transact = func(ctx context.Context, fn func(context.Context, *invite.Manager) error) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if err := fn(context.WithValue(ctx, txKey{}, tx), m.WithStore(store.WithTx(tx))); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			return tx.Commit()
		}
		c.Accepted = func(r *http.Request, acc *invite.Acceptance) error {
			tx := r.Context().Value(txKey{}).(*sql.Tx)
			if _, err := tx.ExecContext(r.Context(), "INSERT INTO users (id) VALUES (?)", acc.Invitation.AcceptedBy); err != nil {
				return err
			}
			if acc.Invitation.AcceptedBy == "u-broken" {
				return errors.New("the user's profile could not be created")
			}
			return nil
		}
	})
	users := func() int {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM users").Scan(&n))
		return n
	}

	c := e.create("ada@example.com", map[string]any{"given_name": "Ada"})
	e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "u-broken").problem(t, 500, "internal")
	require.Zero(t, users(), "the user row rolled back")
	require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil).status, "the invitation is still open")

	r := e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, 1, users())
	e.do("GET", "/public/invitations/"+c.Token, nil).problem(t, 410, "already-accepted")
	inv, err := m.Get(t.Context(), "acme", c.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, "u1", inv.AcceptedBy)
}
