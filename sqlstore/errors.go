package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"

	"github.com/invitekit/invite"
)

// ErrRetryable matches (errors.Is) every error of a Store that a caller may
// retry as a whole: the connection failed or was closed, the server is
// shutting down or refused the connection, or the database aborted the
// transaction to resolve a deadlock, a serialisation failure or a lock
// wait. IsRetryable says the same of any error, including a driver's own.
//
// A retryable error of a write does not always mean nothing was written: a
// connection lost while a commit (or a single-statement write) was in flight
// leaves the outcome unknown. Retrying through the Manager is safe: it
// re-reads the invitation and recomputes its change against the version it
// finds (a repeated Accept by the same subject reports Replayed), and
// Create with an IdempotencyKey returns the first invitation.
var ErrRetryable = errors.New("sqlstore: retryable database error")

// Error is a database failure the Store could not translate into one of the
// invite sentinels (ErrNotFound, ErrAlreadyExists, ErrConflict): a lost
// connection, a deadlock, a missing table, a value the schema rejects. It
// wraps the driver's error (errors.As reaches the driver's own type) and
// matches ErrRetryable when retrying may succeed.
type Error struct {
	// Op is the Store operation that failed ("apply", "get", "list",
	// "migrate", ...).
	Op string
	// Err is the driver's error.
	Err error
	// Retryable reports whether the operation may succeed when run again
	// (see ErrRetryable).
	Retryable bool
}

func (e *Error) Error() string { return "sqlstore: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrRetryable and the error is retryable.
func (e *Error) Is(target error) bool { return target == ErrRetryable && e.Retryable }

// IsRetryable reports whether err, returned by a Store or by a database/sql
// driver, is worth retrying: it matches ErrRetryable, or its chain holds
// driver.ErrBadConn, io.EOF, io.ErrUnexpectedEOF, a net.Error, a refused
// or reset connection, a PostgreSQL error of class 08 (connection
// exception) or with code 40001 (serialization failure), 40P01 (deadlock),
// 57P01, 57P02 or 57P03 (the server is shutting down or starting), a MySQL
// error 1205 (lock wait timeout), 1213 (deadlock), 1020 (a row changed
// since the snapshot, MariaDB's innodb_snapshot_isolation), 1040 (too many
// connections), 1053 (server shutdown) or 1927 (connection killed), or an
// SQLite SQLITE_BUSY or SQLITE_LOCKED. A context's cancellation or deadline
// is the caller's decision, never retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrRetryable) || retryableCause(err)
}

// wrap turns a database error into the error the Store returns: nil stays
// nil, sql.ErrNoRows is invite.ErrNotFound, a unique violation is
// invite.ErrAlreadyExists (without the driver's message, which may quote the
// colliding value: a token hash, an email), a context error is returned
// as it is, and anything else is an *Error.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, invite.ErrNotFound)
	case isUniqueViolation(err) || isTakenID(err):
		if name := uniqueName(err); name != "" {
			return fmt.Errorf("sqlstore: %s: collides on %s: %w", op, name, invite.ErrAlreadyExists)
		}
		return fmt.Errorf("sqlstore: %s: %w", op, invite.ErrAlreadyExists)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return &Error{Op: op, Err: err, Retryable: IsRetryable(err)}
}

// The driver error interfaces the Store recognises without importing a
// driver: pgx's *pgconn.PgError and lib/pq's *pq.Error have SQLState;
// modernc.org/sqlite's *sqlite.Error has Code.
type (
	sqlStater   interface{ SQLState() string }
	sqliteCoder interface{ Code() int }
)

// SQLite result codes (https://sqlite.org/rescode.html).
const (
	sqliteBusy                 = 5
	sqliteBusySnapshot         = 517 // SQLITE_BUSY | 2<<8: a WAL read snapshot went stale before a write
	sqliteLocked               = 6
	sqliteConstraint           = 19
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// MySQL and MariaDB server error numbers.
const (
	mysqlDupEntry        = 1062
	mysqlDupEntryKeyName = 1586
	mysqlLockWaitTimeout = 1205
	mysqlDeadlock        = 1213
	mysqlTooManyConns    = 1040
	mysqlServerShutdown  = 1053
	mysqlConnKilled      = 1927
	// mysqlRecordChanged (ER_CHECKREAD) is MariaDB's snapshot isolation
	// (innodb_snapshot_isolation, on by default from 11.6.2) refusing a
	// locking read or write of a row changed since the transaction's
	// snapshot; like a deadlock it rolls the whole transaction back
	// (MDEV-35235).
	mysqlRecordChanged = 1020
)

// isUniqueViolation reports whether err is a unique or primary key
// violation, in any dialect.
func isUniqueViolation(err error) bool {
	var st sqlStater
	if errors.As(err, &st) {
		return st.SQLState() == "23505"
	}
	var sc sqliteCoder
	if errors.As(err, &sc) {
		c := sc.Code()
		return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey ||
			(c == sqliteConstraint && strings.Contains(err.Error(), "UNIQUE constraint failed"))
	}
	if n, ok := mysqlNumber(err); ok {
		return n == mysqlDupEntry || n == mysqlDupEntryKeyName
	}
	// Drivers whose errors carry no code the Store can read (mattn's
	// go-sqlite3 keeps it in a field): their messages.
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "Duplicate entry") ||
		strings.Contains(msg, "duplicate key value violates unique constraint")
}

// isTakenID reports whether err is PostgreSQL refusing, by a check
// constraint whose name ends in "id_free", the ” that a write stores for
// an outbox id held elsewhere (see pgslot.go): a collision, like a unique
// violation.
func isTakenID(err error) bool {
	var st sqlStater
	return errors.As(err, &st) && st.SQLState() == "23514" && strings.Contains(err.Error(), `id_free"`)
}

// uniqueName returns the name of the constraint, index or columns a unique
// violation names, without the value: `"invite_tokens_pkey"`, `'PRIMARY'`,
// `invite_tokens.token_hash`. It returns "" when the message has no name it
// can cut out safely.
func uniqueName(err error) string {
	msg := err.Error()
	for _, m := range []struct{ after, end string }{
		{`violates unique constraint "`, `"`}, // PostgreSQL
		{`violates check constraint "`, `"`},  // PostgreSQL: isTakenID
		{`for key '`, `'`},                    // MySQL, MariaDB
		{"UNIQUE constraint failed: ", " ("},  // SQLite: "t.col (2067)"
	} {
		i := strings.Index(msg, m.after)
		if i < 0 {
			continue
		}
		rest := msg[i+len(m.after):]
		if j := strings.Index(rest, m.end); j >= 0 {
			rest = rest[:j]
		}
		if rest != "" && len(rest) <= 200 && !strings.ContainsAny(rest, "'\"\\=()") {
			return rest
		}
	}
	return ""
}

// mysqlNumber returns the server error number of a MySQL error in err's
// chain. go-sql-driver's *mysql.MySQLError exposes it only as a field
// (Number uint16, next to SQLState [5]byte); the Store reads it through
// reflect rather than import the driver, and falls back to the driver's
// message format "Error 1062 (23000): ...".
func mysqlNumber(err error) (uint16, bool) {
	var n uint16
	found := false
	walk(err, func(e error) bool {
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return false
		}
		num, state := v.FieldByName("Number"), v.FieldByName("SQLState")
		if num.IsValid() && num.Kind() == reflect.Uint16 && state.IsValid() && state.Kind() == reflect.Array {
			n, found = uint16(num.Uint()), true
			return true
		}
		return false
	})
	if found {
		return n, true
	}
	msg := err.Error()
	if i := strings.Index(msg, "Error "); i >= 0 {
		var num uint16
		if _, scanErr := fmt.Sscanf(msg[i:], "Error %d", &num); scanErr == nil && num >= 1000 {
			return num, true
		}
	}
	return 0, false
}

// walk calls fn on err and every error it wraps (Unwrap() error and
// Unwrap() []error), depth first, until fn returns true.
func walk(err error, fn func(error) bool) bool {
	for err != nil {
		if fn(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, fn) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// isDeadlock reports whether err is the database aborting a transaction to
// resolve a deadlock or a serialisation conflict: the whole transaction was
// rolled back, and running it again from the start is safe.
func isDeadlock(err error) bool {
	var st sqlStater
	if errors.As(err, &st) {
		return st.SQLState() == "40001" || st.SQLState() == "40P01"
	}
	var sc sqliteCoder
	if errors.As(err, &sc) {
		return sc.Code() == sqliteBusySnapshot
	}
	n, ok := mysqlNumber(err)
	return ok && (n == mysqlDeadlock || n == mysqlRecordChanged)
}

// retryableCause reports whether err's chain holds a transient failure (see
// IsRetryable).
func retryableCause(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var st sqlStater
	if errors.As(err, &st) {
		code := st.SQLState()
		switch {
		case strings.HasPrefix(code, "08"):
			return true
		case code == "40001", code == "40P01", code == "57P01", code == "57P02", code == "57P03":
			return true
		}
		return false
	}
	var sc sqliteCoder
	if errors.As(err, &sc) {
		primary := sc.Code() & 0xFF
		return primary == sqliteBusy || primary == sqliteLocked
	}
	if n, ok := mysqlNumber(err); ok {
		switch n {
		case mysqlLockWaitTimeout, mysqlDeadlock, mysqlRecordChanged, mysqlTooManyConns, mysqlServerShutdown, mysqlConnKilled:
			return true
		}
		return false
	}
	// go-sql-driver's ErrInvalidConn ("invalid connection") is a plain
	// error; mattn's go-sqlite3 reports SQLITE_BUSY as "database is locked".
	msg := err.Error()
	return msg == "invalid connection" || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "database table is locked")
}
