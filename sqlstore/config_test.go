package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// noBegin is a DBTX that cannot begin transactions.
type noBegin struct{ sqlstore.DBTX }

func TestNew(t *testing.T) {
	db := newSQLiteDB(t)

	st, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.Equal(t, sqlstore.DefaultTablePrefix, st.TablePrefix(), "default prefix")
	require.Equal(t, sqlstore.SQLite, st.Dialect())

	for _, p := range []string{"a", "invite_", "x9_", "abcdefghijklmnopqrstuvwx"} {
		_, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, TablePrefix: p})
		require.NoError(t, err, "prefix %q", p)
	}
	for _, tc := range []struct {
		name   string
		db     sqlstore.DBTX
		cfg    sqlstore.Config
		fields []string
	}{
		{"NoDialect", db, sqlstore.Config{}, []string{"Dialect"}},
		{"UnknownDialect", db, sqlstore.Config{Dialect: 7}, []string{"Dialect"}},
		{"UpperCasePrefix", db, sqlstore.Config{Dialect: sqlstore.MySQL, TablePrefix: "Invite_"}, []string{"TablePrefix"}},
		{"DigitFirst", db, sqlstore.Config{Dialect: sqlstore.MySQL, TablePrefix: "1x_"}, []string{"TablePrefix"}},
		{"Quote", db, sqlstore.Config{Dialect: sqlstore.MySQL, TablePrefix: "x\"; DROP TABLE y; --"}, []string{"TablePrefix"}},
		{"Dash", db, sqlstore.Config{Dialect: sqlstore.MySQL, TablePrefix: "a-b"}, []string{"TablePrefix"}},
		{"TooLong", db, sqlstore.Config{Dialect: sqlstore.MySQL, TablePrefix: strings.Repeat("a", sqlstore.MaxTablePrefixLen+1)}, []string{"TablePrefix"}},
		{"NegativeLockTimeout", db, sqlstore.Config{Dialect: sqlstore.MySQL, MigrationLockTimeout: -time.Second}, []string{"MigrationLockTimeout"}},
		{"NilDB", nil, sqlstore.Config{Dialect: sqlstore.SQLite}, []string{"db"}},
		{"NilSQLDB", (*sql.DB)(nil), sqlstore.Config{Dialect: sqlstore.SQLite}, []string{"db"}},
		{"CannotBegin", noBegin{db}, sqlstore.Config{Dialect: sqlstore.SQLite}, []string{"db"}},
		{"Everything", nil, sqlstore.Config{TablePrefix: "_"}, []string{"db", "Dialect", "TablePrefix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlstore.New(tc.db, tc.cfg)
			require.Nil(t, st)
			var ve *invite.ValidationError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, invite.ErrInvalid)
			require.Len(t, ve.Fields, len(tc.fields), "%v", err)
			for _, f := range tc.fields {
				require.True(t, ve.Has(f), "%s in %v", f, err)
			}
		})
	}

	require.Equal(t, "postgres", sqlstore.Postgres.String())
	require.Equal(t, "sqlite", sqlstore.SQLite.String())
	require.Equal(t, "mysql", sqlstore.MySQL.String())
	require.Equal(t, "Dialect(9)", sqlstore.Dialect(9).String())
	require.Panics(t, func() { st.WithTx(nil) })
}

// TestNewOnConnAndTx builds Stores on a *sql.Conn and on a *sql.Tx.
func TestNewOnConnAndTx(t *testing.T) {
	ctx := context.Background()
	db := newSQLiteDB(t)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	st, err := sqlstore.New(conn, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	create(t, manager(t, st), "conn@example.com")

	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	inTx, err := sqlstore.New(tx, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	res := create(t, manager(t, inTx), "tx@example.com")
	require.NoError(t, tx.Rollback())
	_, err = st.Get(ctx, "tenant-1", res.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound, "the Store on the rolled-back transaction wrote inside it")
}

// TestSQLiteConcurrentWriters runs eight goroutines creating and accepting
// invitations on one SQLite file, opened as the package documentation
// recommends: not one SQLITE_BUSY. "OneStore" shares one Store (whose
// writes queue in the process); "SeparateHandles" gives each goroutine its
// own *sql.DB and Store, as eight processes would have, so that only
// SQLite's locking (the busy timeout, BEGIN IMMEDIATE) keeps them apart.
func TestSQLiteConcurrentWriters(t *testing.T) {
	const writers, perWriter = 8, 12
	for _, separate := range []bool{false, true} {
		name := "OneStore"
		if separate {
			name = "SeparateHandles"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "writers.db")
			open := func() (*sql.DB, *invite.Manager) {
				db, err := sql.Open("sqlite", sqliteDSN(path))
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				st, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
				require.NoError(t, err)
				require.NoError(t, st.Migrate(ctx))
				return db, manager(t, st)
			}
			db, shared := open()
			errs := make(chan error, writers*perWriter)
			var wg sync.WaitGroup
			for w := range writers {
				m := shared
				if separate {
					_, m = open()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						res, err := m.Create(ctx, invite.CreateInput{TenantID: fmt.Sprintf("tenant-%d", i%3),
							Invitee: invite.Invitee{Email: fmt.Sprintf("w%d-%d@example.com", w, i)}, Delivery: invite.DeliveryReturn})
						if err != nil {
							errs <- fmt.Errorf("writer %d Create %d: %w", w, i, err)
							continue
						}
						if _, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: fmt.Sprintf("s-%d-%d", w, i)}); err != nil {
							errs <- fmt.Errorf("writer %d Accept %d: %w", w, i, err)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, writers*perWriter, countRows(t, db, sqlstore.SQLite, "invite_invitations", "state = 'accepted'"))
			require.Equal(t, 2*writers*perWriter, countRows(t, db, sqlstore.SQLite, "invite_outbox", ""))
		})
	}
}
