package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// TestResentFilterMissingCount: a document without resend_count (a row
// written before the count existed) reads as never re-sent, in List and
// Count alike, on every dialect.
func TestResentFilterMissingCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		m := manager(t, st)
		fresh := create(t, m, "fresh@example.com").Invitation.ID
		again := create(t, m, "again@example.com").Invitation.ID
		old := create(t, m, "old@example.com").Invitation.ID
		_, err := m.Resend(ctx, "tenant-1", again, invite.ResendOptions{Delivery: invite.DeliveryReturn})
		require.NoError(t, err, "Resend")

		table := st.TablePrefix() + "invitations"
		drop := map[sqlstore.Dialect]string{
			sqlstore.Postgres: "UPDATE " + table + " SET doc = doc - 'resend_count' WHERE id = $1",
			sqlstore.SQLite:   "UPDATE " + table + " SET doc = json_remove(doc, '$.resend_count') WHERE id = ?",
			sqlstore.MySQL:    "UPDATE " + table + " SET doc = JSON_REMOVE(doc, '$.resend_count') WHERE id = ?",
		}[be.dialect]
		_, err = db.ExecContext(ctx, drop, old)
		require.NoError(t, err)
		keys := func(id string) map[string]any {
			t.Helper()
			q := "SELECT doc FROM " + table + " WHERE id = ?"
			if be.dialect == sqlstore.Postgres {
				q = rebind(q)
			}
			var doc string
			require.NoError(t, db.QueryRowContext(ctx, q, id).Scan(&doc))
			var out map[string]any
			require.NoError(t, json.Unmarshal([]byte(doc), &out))
			return out
		}
		require.NotContains(t, keys(old), "resend_count", "the row reads as one written before the count")
		require.Contains(t, keys(fresh), "resend_count")
		require.EqualValues(t, 1, keys(again)["resend_count"])

		for _, c := range []struct {
			name   string
			resent *bool
			want   []string
		}{
			{"Resent", new(true), []string{again}},
			{"NeverResent", new(false), []string{fresh, old}},
			{"Either", nil, []string{fresh, again, old}},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := invite.Filter{Resent: c.resent}
				page, err := m.List(ctx, "tenant-1", invite.ListOptions{Filter: f})
				require.NoError(t, err, "List")
				var got []string
				for _, inv := range page.Invitations {
					got = append(got, inv.ID)
				}
				require.Equal(t, c.want, got, "List")
				n, err := m.Count(ctx, "tenant-1", f)
				require.NoError(t, err, "Count")
				require.Equal(t, len(c.want), n, "Count")
			})
		}
	})
}
