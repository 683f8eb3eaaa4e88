package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// sqliteCodeErr has the shape of modernc.org/sqlite's *sqlite.Error, whose
// fields are unexported.
type sqliteCodeErr struct{ code int }

func (e *sqliteCodeErr) Error() string { return fmt.Sprintf("sqlite error (%d)", e.code) }
func (e *sqliteCodeErr) Code() int     { return e.code }

func TestIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"Nil", nil, false},
		{"Plain", errors.New("boom"), false},
		{"BadConn", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"EOF", fmt.Errorf("reading: %w", io.EOF), true},
		{"UnexpectedEOF", io.ErrUnexpectedEOF, true},
		{"Refused", &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "refused"}}, true},
		{"Reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"PgSerialization", &pgconn.PgError{Code: "40001"}, true},
		{"PgDeadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"PgConnection", &pgconn.PgError{Code: "08006"}, true},
		{"PgAdminShutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"PgUnique", &pgconn.PgError{Code: "23505"}, false},
		{"PgUndefinedTable", &pgconn.PgError{Code: "42P01"}, false},
		{"MySQLDeadlock", &mysql.MySQLError{Number: 1213, SQLState: [5]byte{'4', '0', '0', '0', '1'}}, true},
		{"MySQLLockWait", &mysql.MySQLError{Number: 1205}, true},
		{"MariaDBRecordChanged", &mysql.MySQLError{Number: 1020, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}}, true},
		{"MySQLDuplicate", &mysql.MySQLError{Number: 1062}, false},
		{"MySQLInvalidConn", mysql.ErrInvalidConn, true},
		{"SQLiteBusy", &sqliteCodeErr{5}, true},
		{"SQLiteBusySnapshot", &sqliteCodeErr{517}, true},
		{"SQLiteLocked", &sqliteCodeErr{6}, true},
		{"SQLiteUnique", &sqliteCodeErr{2067}, false},
		{"Canceled", fmt.Errorf("%w: %w", context.Canceled, io.EOF), false},
		{"Deadline", fmt.Errorf("%w: %w", context.DeadlineExceeded, &net.OpError{Op: "read"}), false},
		{"StoreError", &sqlstore.Error{Op: "get", Err: errors.New("x"), Retryable: true}, true},
		{"StoreErrorNot", &sqlstore.Error{Op: "get", Err: errors.New("x")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, sqlstore.IsRetryable(tc.err))
		})
	}
	require.ErrorIs(t, &sqlstore.Error{Op: "x", Err: io.EOF, Retryable: true}, sqlstore.ErrRetryable)
	require.NotErrorIs(t, &sqlstore.Error{Op: "x", Err: io.EOF}, sqlstore.ErrRetryable)
}

// requireRetryable asserts that err is a Store's retryable *Error.
func requireRetryable(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, what)
	var se *sqlstore.Error
	require.ErrorAs(t, err, &se, "%s: %v", what, err)
	require.True(t, se.Retryable, "%s: %v", what, err)
	require.ErrorIs(t, err, sqlstore.ErrRetryable, what)
	require.True(t, sqlstore.IsRetryable(err), what)
}

// TestConnectionRefused needs no server: nothing listens on port 1.
func TestConnectionRefused(t *testing.T) {
	for _, tc := range []struct {
		name, driver, dsn string
		dialect           sqlstore.Dialect
	}{
		{"Postgres", "pgx", "postgres://invite:invite@127.0.0.1:1/invite_test?sslmode=disable&connect_timeout=5", sqlstore.Postgres},
		{"MySQL", "mysql", "invite:invite@tcp(127.0.0.1:1)/invite_test?timeout=5s", sqlstore.MySQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open(tc.driver, tc.dsn)
			require.NoError(t, err)
			defer db.Close()
			st, err := sqlstore.New(db, sqlstore.Config{Dialect: tc.dialect})
			require.NoError(t, err)
			ctx := context.Background()
			_, err = st.Get(ctx, "t", "id")
			requireRetryable(t, err, "Get")
			err = st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: validRecord("t", "id", "a@example.com")}}})
			requireRetryable(t, err, "Apply")
			requireRetryable(t, errors.Unwrap(st.Migrate(ctx)), "Migrate")
		})
	}
}

// TestConnectionKilled kills the server side of the Store's connection: the
// next call fails with a retryable error, never silently.
func TestConnectionKilled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		if !be.server {
			t.Skip("SQLite has no server connection to kill")
		}
		ctx := context.Background()
		migrated, db := be.newStore(t)
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		st, err := sqlstore.New(conn, sqlstore.Config{Dialect: be.dialect, TablePrefix: migrated.TablePrefix()})
		require.NoError(t, err)
		_, err = st.Get(ctx, "t", "id")
		require.ErrorIs(t, err, invite.ErrNotFound)

		var pid int64
		kill := "SELECT pg_terminate_backend(?)"
		if be.dialect == sqlstore.Postgres {
			require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
			kill = rebind(kill)
		} else {
			require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&pid))
			kill = "KILL CONNECTION ?"
		}
		_, err = db.ExecContext(ctx, kill, pid)
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond) // let the server close the socket

		err = st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: validRecord("t", "id", "a@example.com")}}})
		requireRetryable(t, err, "Apply on a killed connection")
	})
}

// TestSQLiteBusy shows what happens without the recommended busy timeout:
// a write that finds the database locked fails fast, as retryable.
func TestSQLiteBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	good, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	defer good.Close()
	migrated, err := sqlstore.New(good, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.NoError(t, migrated.Migrate(ctx))

	holder, err := good.Conn(ctx)
	require.NoError(t, err)
	defer holder.Close()
	_, err = holder.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	defer func() { _, _ = holder.ExecContext(ctx, "ROLLBACK") }()

	bare, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	require.NoError(t, err)
	defer bare.Close()
	st, err := sqlstore.New(bare, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	err = st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: validRecord("t", "id", "a@example.com")}}})
	requireRetryable(t, err, "Apply while another connection writes")
}

// validRecord is a minimal insertable record.
func validRecord(tenant, id, email string) *invite.Record {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	h := tokenHash()
	return &invite.Record{
		Invitation: invite.Invitation{ID: id, TenantID: tenant, Invitee: invite.Invitee{Email: email},
			State: invite.StatePending, CreatedAt: now, UpdatedAt: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1},
		Credentials: invite.Credentials{TokenHash: h},
	}
}

// TestUniqueViolation checks the translation of each dialect's unique
// violation: invite.ErrAlreadyExists, naming the constraint but never the
// colliding value (a token hash, an email).
func TestUniqueViolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, _ := be.newStore(t)
		first := validRecord("tenant-1", "first", "Secret.Person@example.com")
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: first}}}))

		sameToken := validRecord("tenant-2", "second", "other@example.com")
		sameToken.Credentials.TokenHash = first.Credentials.TokenHash
		sameEmail := validRecord("tenant-1", "third", "secret.person@EXAMPLE.com")
		for _, r := range []*invite.Record{sameToken, sameEmail} {
			err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r}}})
			require.ErrorIs(t, err, invite.ErrAlreadyExists)
			require.False(t, sqlstore.IsRetryable(err))
			msg := strings.ToLower(err.Error())
			require.NotContains(t, msg, hex.EncodeToString(first.Credentials.TokenHash[:]))
			require.NotContains(t, msg, string(first.Credentials.TokenHash[:4]))
			require.NotContains(t, msg, "secret.person")
			require.Contains(t, msg, "collides on", "the message names the constraint: %s", msg)
			t.Log(err)
		}
		_, err := st.Get(ctx, "tenant-1", "missing")
		require.ErrorIs(t, err, invite.ErrNotFound)
	})
}

// TestApplyValidates checks that malformed batches are refused before any
// statement.
func TestApplyValidates(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.New(newSQLiteDB(t), sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err) // not migrated: a statement would fail on the missing table
	noTenant := validRecord("", "x", "a@example.com")
	badState := validRecord("t", "y", "b@example.com")
	badState.Invitation.State = "lost"
	skipped := validRecord("t", "z", "c@example.com")
	skipped.Invitation.Version = 3
	badJSON := validRecord("t", "j", "j@example.com")
	badJSON.Invitation.Metadata = []byte(`{"unterminated`)
	err = st.Apply(ctx, &invite.Batch{
		Writes: []invite.Write{{Record: nil}, {Record: noTenant}, {Record: badState}, {Record: skipped, Expect: 1},
			{Record: validRecord("t", "d", "d@example.com"), Delete: true}, {Record: validRecord("t", "n", "n@example.com"), Expect: -1},
			{Record: badJSON}},
		Events: []invite.Event{{Type: invite.EventCreated}},
	})
	var ve *invite.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, invite.ErrInvalid)
	for _, f := range []string{"Writes[0].Record", "Writes[1].Record.Invitation.TenantID", "Writes[2].Record.Invitation.State",
		"Writes[3].Record.Invitation.Version", "Writes[4].Delete", "Writes[5].Expect", "Writes[6].Record.Invitation", "Events[0].ID"} {
		require.True(t, ve.Has(f), "%s in %v", f, err)
	}
	require.NoError(t, st.Apply(ctx, &invite.Batch{}), "an empty batch writes nothing")
}

// TestNUL stores a U+0000 in pre-filled data: SQLite and MySQL keep it;
// PostgreSQL's jsonb cannot, and the Store says so up front.
func TestNUL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, _ := be.newStore(t)
		r := validRecord("tenant-1", "nul", "nul@example.com")
		r.Invitation.Data = map[string]string{"k": "a\x00b", "escaped": `\u0000`}
		err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r}}})
		if be.dialect == sqlstore.Postgres {
			require.ErrorIs(t, err, invite.ErrInvalid)
			require.Contains(t, err.Error(), "U+0000")
			return
		}
		require.NoError(t, err)
		got, err := st.Get(ctx, "tenant-1", "nul")
		require.NoError(t, err)
		require.Equal(t, r.Invitation.Data, got.Invitation.Data)
	})
	// An escaped backslash before "u0000" is no NUL: PostgreSQL takes it.
	forEachBackend(t, func(t *testing.T, be backend) {
		st, _ := be.newStore(t)
		r := validRecord("tenant-1", "backslash", "bs@example.com")
		r.Invitation.Data = map[string]string{"path": `C:\u0000dir`}
		require.NoError(t, st.Apply(context.Background(), &invite.Batch{Writes: []invite.Write{{Record: r}}}))
	})
}

// tokenHash returns the hash of a fresh token.
func tokenHash() invite.TokenHash {
	_, h, err := invite.MintToken(invite.DefaultTokenPrefix)
	if err != nil {
		panic(err) // the default prefix is valid
	}
	return h
}
