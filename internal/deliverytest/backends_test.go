package deliverytest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
	"github.com/invitekit/invite/sqlstore"
)

// The servers the SQL tests run against, from .ci/services.sh.
const (
	postgresEnv = "INVITE_POSTGRES_DSN"
	mysqlEnv    = "INVITE_MYSQL_DSN"
)

// backend is one store implementation under test: memstore, or a sqlstore
// dialect.
type backend struct {
	name string
	// dialect is the sqlstore dialect; driver and dsn open its database
	// (dsn is empty for SQLite: every store gets its own file).
	dialect sqlstore.Dialect
	driver  string
	dsn     string
	sql     bool
	// server is true for PostgreSQL and MariaDB, whose stores share one
	// database and differ by table prefix.
	server bool
}

// backends returns every store that can run here: memstore and SQLite
// always; PostgreSQL and MariaDB when their DSN is set. A missing DSN is a
// skip, except under CI=true, where it fails the test.
func backends(t *testing.T) []backend {
	t.Helper()
	out := []backend{
		{name: "memstore"},
		{name: "SQLite", dialect: sqlstore.SQLite, driver: "sqlite", sql: true},
	}
	for _, s := range []struct {
		name, env, driver string
		dialect           sqlstore.Dialect
	}{
		{"Postgres", postgresEnv, "pgx", sqlstore.Postgres},
		{"MySQL", mysqlEnv, "mysql", sqlstore.MySQL},
	} {
		dsn := os.Getenv(s.env)
		if dsn == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not set: CI must run the %s proofs (source .ci/services.sh)", s.env, s.name)
			}
			t.Logf("%s is not set: skipping %s (source .ci/services.sh to run it)", s.env, s.name)
			continue
		}
		out = append(out, backend{name: s.name, dialect: s.dialect, driver: s.driver, dsn: dsn, sql: true, server: true})
	}
	return out
}

// only returns the backends named.
func only(bes []backend, names ...string) []backend {
	var out []backend
	for _, be := range bes {
		for _, n := range names {
			if be.name == n {
				out = append(out, be)
			}
		}
	}
	return out
}

// location is where a SQL store lives: enough for another process to open
// it (see openLocation).
type location struct {
	Dialect sqlstore.Dialect
	Driver  string
	DSN     string
	Prefix  string
}

// sqliteDSN is the DSN sqlstore recommends for modernc.org/sqlite: a busy
// timeout, WAL, and BEGIN IMMEDIATE for every transaction.
func sqliteDSN(path string) string {
	path = strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(path)
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// fixture is a fresh, migrated, empty store.
type fixture struct {
	Store invite.Store
	// SQL is the sqlstore (nil for memstore), DB its database and Loc its
	// location.
	SQL *sqlstore.Store
	DB  *sql.DB
	Loc location
}

// open returns a fresh store for t: a new memstore, a new SQLite file, or
// new tables (a unique prefix, dropped when t ends) on the server. The
// store must implement invite.Outbox.
func (be backend) open(t *testing.T) fixture {
	t.Helper()
	if !be.sql {
		return fixture{Store: memstore.New()}
	}
	loc := location{Dialect: be.dialect, Driver: be.driver, DSN: be.dsn}
	var db *sql.DB
	if be.server {
		db = serverDB(t, be.driver, be.dsn)
		loc.Prefix = uniquePrefix(t)
		t.Cleanup(func() { dropTables(t, db, loc.Dialect, loc.Prefix) })
	} else {
		loc.DSN = sqliteDSN(filepath.Join(t.TempDir(), "invite.db"))
		var err error
		db, err = sql.Open(loc.Driver, loc.DSN)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
	}
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: loc.Dialect, TablePrefix: loc.Prefix})
	require.NoError(t, err)
	require.NoError(t, st.Migrate(t.Context()), "Migrate")
	requireOutbox(t, st)
	return fixture{Store: st, SQL: st, DB: db, Loc: loc}
}

// requireOutbox fails t unless st implements invite.Outbox.
func requireOutbox(t *testing.T, st invite.Store) {
	t.Helper()
	if _, ok := st.(invite.Outbox); !ok {
		t.Fatalf("%T does not implement invite.Outbox", st)
	}
}

// openLocation opens the store at loc (migrated already) for a process of
// its own; close closes its database.
func openLocation(loc location) (st *sqlstore.Store, closeDB func(), err error) {
	db, err := sql.Open(loc.Driver, loc.DSN)
	if err != nil {
		return nil, nil, err
	}
	st, err = sqlstore.New(db, sqlstore.Config{Dialect: loc.Dialect, TablePrefix: loc.Prefix})
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return st, func() { _ = db.Close() }, nil
}

var (
	serverMu  sync.Mutex
	serverDBs = map[string]*sql.DB{}
)

// serverDB returns the pool for dsn, shared by every test of the binary.
func serverDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	serverMu.Lock()
	defer serverMu.Unlock()
	if db := serverDBs[dsn]; db != nil {
		return db
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(48)
	db.SetMaxIdleConns(48)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "connecting to %s", driver)
	serverDBs[dsn] = db
	return db
}

// uniquePrefix returns a table prefix no other test uses.
func uniquePrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "d" + hex.EncodeToString(b[:]) + "_"
}

// dropTables drops the Store's tables of prefix.
func dropTables(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) {
	t.Helper()
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: d, TablePrefix: prefix})
	if err != nil {
		t.Errorf("dropping the tables of %s: %v", prefix, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, table := range st.Tables() {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	}
}

// listAll returns every invitation of the tenant, expired ones included.
func listAll(t *testing.T, st invite.Store, tenantID string) []*invite.Invitation {
	t.Helper()
	var out []*invite.Invitation
	q := invite.Query{Filter: invite.Filter{IncludeExpired: true}, Now: time.Now(), Limit: 500}
	for {
		page, next, err := st.List(t.Context(), tenantID, q)
		require.NoError(t, err)
		out = append(out, page...)
		if next == nil {
			return out
		}
		q.After = next
	}
}

// outboxStats returns the outbox's counts.
func outboxStats(t *testing.T, st invite.Store) invite.OutboxStats {
	t.Helper()
	s, err := st.(invite.Outbox).OutboxStats(t.Context())
	require.NoError(t, err)
	return s
}

// email returns an address no other call returns.
func email(tag string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s@example.com", tag, hex.EncodeToString(b[:]))
}
