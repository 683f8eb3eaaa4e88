package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
	"github.com/invitekit/invite/storetest"
)

// The servers the tests run against, from .ci/services.sh. SQLite needs
// none: it always runs.
const (
	postgresEnv = "INVITE_POSTGRES_DSN"
	mysqlEnv    = "INVITE_MYSQL_DSN"
)

// sqliteDSN is the DSN the package documentation recommends for
// modernc.org/sqlite: a busy timeout, WAL, and BEGIN IMMEDIATE for every
// transaction.
func sqliteDSN(path string) string {
	// The path is a URI path: a # or ? in it (a subtest's temporary
	// directory is named after the subtest: "TestX/SQLite#01") must be
	// escaped, or SQLite would cut the path there.
	path = strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(path)
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// backend is one dialect under test.
type backend struct {
	name    string
	dialect sqlstore.Dialect
	// db returns a database for t: a fresh SQLite file per call, or the
	// shared server pool.
	db func(t testing.TB) *sql.DB
	// server is true for PostgreSQL and MySQL, where stores of different
	// tests share one database and differ by table prefix.
	server bool
}

// backends returns every dialect that can run here. A server whose DSN is
// unset is skipped, except under CI=true, where it is a failure.
func backends(t *testing.T) []backend {
	t.Helper()
	out := []backend{{name: "SQLite", dialect: sqlstore.SQLite, db: newSQLiteDB}}
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
				t.Fatalf("%s is not set: CI must run the %s tests (source .ci/services.sh)", s.env, s.name)
			}
			t.Logf("%s is not set: skipping %s (source .ci/services.sh to run it)", s.env, s.name)
			continue
		}
		out = append(out, backend{name: s.name, dialect: s.dialect, db: serverDB(s.driver, dsn), server: true})
	}
	return out
}

func newSQLiteDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "invite.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var (
	serverMu  sync.Mutex
	serverDBs = map[string]*sql.DB{}
)

// serverDB returns a function handing out one pool per DSN, shared by every
// test of the binary (the accept race needs 32 connections at once).
func serverDB(driver, dsn string) func(t testing.TB) *sql.DB {
	return func(t testing.TB) *sql.DB {
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
}

// uniquePrefix returns a table prefix no other test uses: servers are shared.
func uniquePrefix(t testing.TB) string {
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// newStore returns a migrated, empty Store for t on be: a new SQLite file,
// or new tables (a unique prefix) on the server, dropped when t ends.
func (be backend) newStore(t testing.TB) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	db := be.db(t)
	cfg := sqlstore.Config{Dialect: be.dialect}
	if be.server {
		cfg.TablePrefix = uniquePrefix(t)
		t.Cleanup(func() { dropTables(t, db, be.dialect, cfg.TablePrefix) })
	}
	st, err := sqlstore.New(db, cfg)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()), "Migrate")
	return st, db
}

// dropTables drops the Store's tables of prefix (and a test's own users
// table).
func dropTables(t testing.TB, db *sql.DB, d sqlstore.Dialect, prefix string) {
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: d, TablePrefix: prefix})
	if err != nil {
		t.Errorf("dropping the tables of %s: %v", prefix, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, table := range append(st.Tables(), prefix+"users") {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) { fn(t, be) })
	}
}

// conformanceOptions sizes storetest's loops for this package, which runs
// the suite on three databases, twice on two of them, under -race: the
// accept race 50 rounds of 16 goroutines (the default: 200 of 32), the
// other races 5 rounds of 16 writers (10) and 10 of accepting subjects
// (20). Each round of each still races enough goroutines that a lost
// version guard or a missing unique index shows at once; the default sizes
// are for stress runs (go test -run TestConformance -count N).
var conformanceOptions = storetest.Options{AcceptRaceRounds: 50, AcceptRaceGoroutines: 16, SameSubjectRounds: 10, ConcurrentRounds: 5}

// TestConformance runs the storetest suite, sized by conformanceOptions, on
// every dialect at once: a fresh SQLite file, or fresh tables on the
// server, per subtest.
func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Parallel()
		start := time.Now()
		storetest.RunWithOptions(t, func(t *testing.T) invite.Store {
			st, _ := be.newStore(t)
			return st
		}, conformanceOptions)
		t.Logf("%s: storetest took %s", be.name, time.Since(start).Round(time.Millisecond))
	})
}

// TestOutboxConformance runs the storetest suite of the Outbox ability on
// every dialect at once.
func TestOutboxConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Parallel()
		storetest.RunOutbox(t, func(t *testing.T) invite.Store {
			st, _ := be.newStore(t)
			return st
		})
	})
}

// concurrentSubtests matches the storetest subtests that race goroutines
// on one store: the ones whose outcome the isolation level decides. The
// others run one statement or transaction at a time, where neither
// SERIALIZABLE nor snapshot isolation can fail a statement, and
// TestConformance runs them.
var concurrentSubtests = regexp.MustCompile(`/(CAS/Concurrent|Uniqueness/Concurrent|TokenHash/HandoverWhileReading|List/ConcurrentInserts|Manager/AcceptRace|Manager/StateChanges/AdminAcceptRace|Quota/Concurrent)`)

// TestConformanceStrictIsolation runs the concurrent subtests of the
// storetest suite (concurrentSubtests; the others skip) on PostgreSQL at
// SERIALIZABLE (CockroachDB's level, where the Store retries serialisation
// failures) and on MariaDB with innodb_snapshot_isolation (the default
// from MariaDB 11.6.2, where a write to a row changed since the snapshot
// fails with error 1020), through the same servers with another session
// setting in the DSN.
func TestConformanceStrictIsolation(t *testing.T) {
	for _, be := range backends(t) {
		var param string
		switch be.dialect {
		case sqlstore.Postgres:
			be.name, param = "PostgresSerializable", "default_transaction_isolation=serializable"
		case sqlstore.MySQL:
			be.name, param = "MariaDBSnapshotIsolation", "innodb_snapshot_isolation=ON"
		default:
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			if be.dialect == sqlstore.MySQL {
				// MySQL, and MariaDB before 10.6.20 and 10.11.10, have no
				// such setting.
				var v string
				if err := be.db(t).QueryRowContext(t.Context(), "SELECT @@innodb_snapshot_isolation").Scan(&v); err != nil {
					t.Skipf("the server has no innodb_snapshot_isolation: %v", err)
				}
			}
			driver, env := "pgx", postgresEnv
			if be.dialect == sqlstore.MySQL {
				driver, env = "mysql", mysqlEnv
			}
			dsn := os.Getenv(env)
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			be.db = serverDB(driver, dsn+sep+param)
			// The setting took: the suite runs at the level it names.
			q, want := "SHOW transaction_isolation", "serializable"
			if be.dialect == sqlstore.MySQL {
				q, want = "SELECT @@innodb_snapshot_isolation", "1"
			}
			var got string
			require.NoError(t, be.db(t).QueryRowContext(t.Context(), q).Scan(&got))
			require.Equal(t, want, got)
			ran := 0
			storetest.RunWithOptions(t, func(t *testing.T) invite.Store {
				if !concurrentSubtests.MatchString(t.Name()) {
					t.Skip("no concurrency: the isolation level changes nothing (TestConformance runs it)")
				}
				ran++
				st, _ := be.newStore(t)
				return st
			}, conformanceOptions)
			// CAS 2, Uniqueness 4, TokenHash 1, List 2, Manager 3, Quota 1: fewer
			// means storetest renamed some, and concurrentSubtests needs
			// updating.
			require.GreaterOrEqual(t, ran, 13, "concurrent storetest subtests run (see concurrentSubtests)")
			// The outbox's concurrent claimers: SKIP LOCKED under the
			// stricter level.
			claims := 0
			storetest.RunOutbox(t, func(t *testing.T) invite.Store {
				if !strings.HasSuffix(t.Name(), "/ConcurrentClaims") {
					t.Skip("no concurrency (TestOutboxConformance runs it)")
				}
				claims++
				st, _ := be.newStore(t)
				return st
			})
			require.Equal(t, 1, claims, "storetest.RunOutbox's ConcurrentClaims ran")
		})
	}
}

// countRows returns the number of rows of prefix+table matching where.
func countRows(t testing.TB, db sqlstore.DBTX, d sqlstore.Dialect, table, where string, args ...any) int {
	t.Helper()
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	if d == sqlstore.Postgres {
		q = rebind(q)
	}
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), q, args...).Scan(&n), "%s", q)
	return n
}

func rebind(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// discardEvents is an EventSink that drops every event: with it, the
// Manager builds the events of every change, which the Store queues in its
// outbox, where the tests look for them.
var discardEvents = invite.EventSinkFunc(func(context.Context, []invite.Event) error { return nil })

// manager returns a Manager on st that returns secrets instead of sending
// them, with cheap code hashing, and that builds events (discardEvents).
func manager(t testing.TB, st invite.Store) *invite.Manager {
	t.Helper()
	m, err := invite.New(st, invite.Config{CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1},
		EventSink: discardEvents})
	require.NoError(t, err)
	return m
}

func create(t testing.TB, m *invite.Manager, email string) *invite.Result {
	t.Helper()
	res, err := m.Create(context.Background(), invite.CreateInput{TenantID: "tenant-1",
		Invitee: invite.Invitee{Email: email}, Delivery: invite.DeliveryReturn, Roles: []string{"member"}})
	require.NoError(t, err, "Create")
	return res
}

// TestOneConnectionPool: on SQLite, a pool of a single connection (as
// much SQLite advice has it) migrates and writes; preparing a statement
// inside a transaction would wait for a second connection for ever.
func TestOneConnectionPool(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "one.db")))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, st.Migrate(ctx))
	m := manager(t, st)
	res, err := m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "one@example.com"},
		Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	_, err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
	require.NoError(t, err)
	got, err := m.Get(ctx, "tenant-1", res.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, got.State)
}
