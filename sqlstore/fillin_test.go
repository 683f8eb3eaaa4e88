package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// migrationsUpTo returns the embedded migrations of d numbered up to n.
func migrationsUpTo(t *testing.T, d sqlstore.Dialect, n int) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	fsys := sqlstore.EmbeddedMigrations(d)
	entries, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	for _, e := range entries {
		var v int
		_, err := fmt.Sscanf(e.Name(), "%04d_", &v)
		require.NoError(t, err)
		if v <= n {
			body, err := fs.ReadFile(fsys, e.Name())
			require.NoError(t, err)
			out[e.Name()] = &fstest.MapFile{Data: body}
		}
	}
	require.Len(t, out, n)
	return out
}

// TestMigrateFillsSearchKeys: rows written before 0005_search_keys (here
// inserted as a version with the schema of 0004 wrote them) are found by
// the name search once Migrate has applied it, whatever the case of their
// letters, over several batches of the fill-in.
func TestMigrateFillsSearchKeys(t *testing.T) {
	sqlstore.SetFillInBatch(t, 7)
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.freshStore(t, sqlstore.Config{})
		sqlstore.SetMigrationFS(st, migrationsUpTo(t, be.dialect, 4))
		require.NoError(t, st.Migrate(ctx))

		now := time.Now().UTC().Truncate(time.Second)
		tv := func(at time.Time) any {
			if be.dialect == sqlstore.SQLite {
				return at.UnixMicro()
			}
			return at
		}
		type old struct{ tenant, given, family string }
		var rows []old
		for i := range 17 {
			switch i % 4 {
			case 0:
				rows = append(rows, old{"t1", "Ödön", fmt.Sprintf("Çelik-%02d", i)})
			case 1:
				rows = append(rows, old{"t2", "Анна", ""})
			case 2:
				rows = append(rows, old{"t1", "", "ΟΔΥΣΣΈΑΣ"})
			default:
				rows = append(rows, old{"t2", "", ""})
			}
		}
		ins := "INSERT INTO " + st.TablePrefix() + "invitations (tenant_id, id, version, state, created_at, expires_at, doc)" +
			" VALUES (?, ?, 1, 'pending', ?, ?, ?)"
		if be.dialect == sqlstore.Postgres {
			ins = rebind(ins)
		}
		for i, r := range rows {
			inv := invite.Invitation{ID: uuid.NewString(), TenantID: r.tenant, GivenName: r.given, FamilyName: r.family,
				Invitee: invite.Invitee{UserID: fmt.Sprintf("u%d", i)}, State: invite.StatePending, Version: 1,
				CreatedAt: now, UpdatedAt: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			doc, err := json.Marshal(&inv)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, ins, r.tenant, inv.ID, tv(now), tv(now.Add(time.Hour)), string(doc))
			require.NoError(t, err)
		}

		sqlstore.SetMigrationFS(st, sqlstore.EmbeddedMigrations(be.dialect))
		require.NoError(t, st.Migrate(ctx))

		count := func(tenant, search string) int {
			t.Helper()
			n, err := st.Count(ctx, tenant, invite.Filter{Search: search}, now)
			require.NoError(t, err)
			page, _, err := st.List(ctx, tenant, invite.Query{Filter: invite.Filter{Search: search}, Now: now, Limit: 100})
			require.NoError(t, err)
			require.Len(t, page, n, "List and Count agree on %q", search)
			for _, r := range page {
				full, family := r.NameKeys()
				key := invite.SearchKey(search)
				require.True(t, strings.HasPrefix(full, key) || strings.HasPrefix(family, key), "%q found %q", search, full)
			}
			return n
		}
		require.Equal(t, 5, count("t1", "öDÖN çel"))
		require.Equal(t, 1, count("t1", "ödön çelik-16"))
		require.Equal(t, 5, count("t1", "çelik")) // the family name alone
		require.Equal(t, 4, count("t1", "οδυσσέας"))
		require.Equal(t, 4, count("t2", "АННА"))
		require.Zero(t, count("t2", "ödön"), "another tenant's names")
		// Rows without a name have no key.
		table := st.TablePrefix() + "invitations"
		require.Equal(t, 4, countRows(t, db, be.dialect, table, "search_name IS NULL"))
		require.Equal(t, 8, countRows(t, db, be.dialect, table, "search_family IS NULL"))
	})
}

// TestFillInKeepsNewerKeys: on MySQL, whose fill-in runs in a transaction
// per batch while the application writes, a row written since the batch
// read it keeps the keys its writer gave it.
func TestFillInKeepsNewerKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		if be.dialect != sqlstore.MySQL {
			t.Skip("the fill-in holds the table for its whole run on this dialect")
		}
		ctx := context.Background()
		st, _ := be.newStore(t)
		m := manager(t, st)
		res, err := m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "keys@example.com"},
			GivenName: "Ödön", Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		renamed := "Zoé"
		inv, err := m.Update(ctx, invite.UpdateInput{TenantID: "tenant-1", ID: res.Invitation.ID, Version: res.Invitation.Version,
			GivenName: &renamed})
		require.NoError(t, err)
		// The fill-in read the row before the rename.
		require.NoError(t, sqlstore.WriteSearchKeys(ctx, st, "tenant-1", inv.ID, res.Invitation.Version, "ödön", ""))
		for search, want := range map[string]int{"zoé": 1, "ödön": 0} {
			n, err := st.Count(ctx, "tenant-1", invite.Filter{Search: search}, time.Now())
			require.NoError(t, err)
			require.Equal(t, want, n, search)
		}
		// As read at the current version, the keys are written.
		require.NoError(t, sqlstore.WriteSearchKeys(ctx, st, "tenant-1", inv.ID, inv.Version, "ödön", ""))
		n, err := st.Count(ctx, "tenant-1", invite.Filter{Search: "ödön"}, time.Now())
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}
