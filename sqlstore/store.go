package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/invitekit/invite"
)

// DBTX is what a Store runs its statements on: a *sql.DB (the usual case), a
// *sql.Conn (one dedicated connection), or a *sql.Tx (a transaction of the
// host's: see WithTx).
//
// Writes of several statements are atomic whatever the DBTX: on a *sql.DB or
// *sql.Conn, or any DBTX with a BeginTx method like theirs, the Store begins
// a transaction of its own; on a *sql.Tx it runs inside that transaction,
// under a savepoint, so that a failed write leaves no trace and does not
// abort the host's transaction.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ DBTX = (*sql.DB)(nil)
	_ DBTX = (*sql.Tx)(nil)
	_ DBTX = (*sql.Conn)(nil)
)

// beginner is a DBTX that can begin transactions: *sql.DB and *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

var (
	_ beginner = (*sql.DB)(nil)
	_ beginner = (*sql.Conn)(nil)
)

// Store is an invite.Store on a database/sql database. It is safe for
// concurrent use, except a Store returned by WithTx, which is bound to one
// transaction and shares its limits: one statement at a time, and nothing
// after the transaction ends.
type Store struct {
	db DBTX
	// begin begins the Store's own transactions; nil when db is the host's
	// transaction.
	begin beginner
	// stmts, on SQLite on a *sql.DB, keeps the Store's statements
	// prepared (db is then a cachedDB over it).
	stmts *preparedCache
	cfg   Config
	d     Dialect
	// dl is what the SQL of d differs in (dialect.go).
	dl dialect
	// Table names, prefixed.
	invitations, tokens, outbox, migrations, inviters string
	// migrationFS holds the numbered migrations of the dialect, in its root.
	migrationFS fs.FS
	q           *queries
	// diffs holds txWrite's updates that leave some columns alone.
	diffs *diffStatements
	// current is set on a Store on a host's transaction once a write found
	// the transaction's snapshot older than a row it guards (see
	// staleSnapshot; MySQL): from then on its point reads are locking
	// reads, which read the rows' current versions.
	current bool
}

var _ invite.Store = (*Store)(nil)

// New returns a Store that runs its statements on db, in the SQL of
// cfg.Dialect. It validates cfg and fills its defaults (see Config); every
// problem is reported in one *invite.ValidationError. New does not touch
// the database: call Migrate to create or update the schema.
//
// db must be a *sql.DB, a *sql.Conn or a *sql.Tx, or have a method
// BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error). A Store on a
// *sql.Tx works inside that transaction only (as WithTx does).
func New(db DBTX, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	var fields []invite.FieldError
	var ve *invite.ValidationError
	if errors.As(err, &ve) {
		fields = ve.Fields
	}
	s := &Store{db: db, cfg: cfg, d: cfg.Dialect, dl: newDialect(cfg.Dialect)}
	switch x := db.(type) {
	case nil:
		fields = append(fields, invite.FieldError{Field: "db", Reason: "is nil"})
	case *sql.DB:
		if x == nil {
			fields = append(fields, invite.FieldError{Field: "db", Reason: "is a nil *sql.DB"})
		}
		s.begin = x
	case *sql.Conn:
		if x == nil {
			fields = append(fields, invite.FieldError{Field: "db", Reason: "is a nil *sql.Conn"})
		}
		s.begin = x
	case *sql.Tx:
		if x == nil {
			fields = append(fields, invite.FieldError{Field: "db", Reason: "is a nil *sql.Tx"})
		}
	case beginner:
		s.begin = x
	default:
		fields = append(fields, invite.FieldError{Field: "db",
			Reason: "must be a *sql.DB, *sql.Conn or *sql.Tx, or have BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)"})
	}
	if len(fields) > 0 {
		return nil, &invite.ValidationError{Fields: fields}
	}
	p := cfg.TablePrefix
	s.invitations, s.tokens, s.outbox, s.migrations = p+"invitations", p+"tokens", p+"outbox", p+"schema_migrations"
	s.inviters = p + "inviters"
	s.migrationFS = dialectMigrations(cfg.Dialect)
	s.q = s.buildQueries()
	s.diffs = &diffStatements{}
	if x, ok := db.(*sql.DB); ok && cfg.Dialect == SQLite {
		s.stmts = newPreparedCache(x)
		s.db = cachedDB{DB: x, c: s.stmts}
		// The prepared statements go with the Store (a Store WithTx
		// returns does not use them).
		runtime.AddCleanup(s, func(c *preparedCache) { _ = c.close() }, s.stmts)
	}
	return s, nil
}

// WithTx returns a Store on the host's transaction tx, with the same
// configuration: every read and write of the returned Store happens inside
// tx, and commits or rolls back with it. This is how a host accepts an
// invitation and inserts its own user row atomically:
//
//	tx, err := db.BeginTx(ctx, nil)
//	...
//	acc, err := manager.WithStore(store.WithTx(tx)).Accept(ctx, token, in)
//	... insert the user with tx, apply acc.Invitation's grants ...
//	err = tx.Commit()
//
// Each write runs under a savepoint of tx: a write that fails (a collision,
// a lost version race) is undone on its own and leaves tx usable, so the
// Manager's follow-up reads and retries work inside it. A deadlock or a
// serialisation failure is the exception: the database has rolled all of
// tx back, and the error (matching ErrRetryable) tells the host to run its
// transaction again. On MySQL at REPEATABLE READ a transaction's plain
// reads see its snapshot, which a concurrent commit (another request
// accepting the same invitation, or inviting the same person) leaves
// behind: once a write finds the snapshot older than the row it guards, or
// collides with a row, the Store WithTx returned reads with FOR UPDATE from
// then on, so that the Manager's retry reads the current rows and answers
// as it would outside a transaction (ErrAlreadyAccepted, a replay, a
// superseded invitation). The outbox rows of a write (its events and
// messages) go into the outbox inside tx and commit or roll back with it;
// the returned Store reports InHostTransaction, so a Manager sends and
// publishes nothing itself, and a dispatcher delivers what tx committed.
// The returned Store must not be used after tx ends, nor from two
// goroutines at once. Migrate refuses to run on it. tx must not be nil.
func (s *Store) WithTx(tx *sql.Tx) *Store {
	if tx == nil {
		panic("sqlstore: WithTx(nil)")
	}
	c := *s
	c.db, c.begin = tx, nil
	return &c
}

// Dialect returns the dialect the Store speaks.
func (s *Store) Dialect() Dialect { return s.d }

// TablePrefix returns the prefix of the Store's tables.
func (s *Store) TablePrefix() string { return s.cfg.TablePrefix }

// Tables returns the names of every table Migrate creates, prefix
// included, in an order in which they can be dropped one by one (no
// foreign keys join them): for a host's teardown, grants or backups.
func (s *Store) Tables() []string {
	return []string{s.invitations, s.tokens, s.outbox, s.inviters, s.migrations}
}

// maxAttempts bounds how often the Store runs a write whose transaction
// the database aborted to resolve a deadlock or a serialisation conflict
// (see isDeadlock). InnoDB, in particular, deadlocks concurrent inserts that
// collide on several unique indexes in different orders; the retry then
// finds the winner's row and reports the collision. Eight attempts, with
// pauses of up to 2, 4, ... 128 ms, ride out the bursts of serialisation
// failures that SERIALIZABLE gives concurrent claims and settlements of the
// outbox on a loaded machine (five did not, now and then).
const maxAttempts = 8

// retrying runs fn, and runs it again, after a short random pause, while
// it fails with a deadlock and the Store owns its transactions: a deadlock
// rolls back the whole transaction, so a host's transaction (WithTx) is
// lost, and the error goes back to the host.
func (s *Store) retrying(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || s.begin == nil || attempt == maxAttempts || !isDeadlock(err) {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// savepoint names the savepoint writes run under inside a host transaction.
const savepoint = "invite_sqlstore"

// atomically runs fn with a DBTX on which everything fn does commits
// together or not at all: a transaction of the Store's own, or a savepoint
// inside the host's transaction. fn returns errors already wrapped; only
// the transaction's own failures are wrapped here, under op.
func (s *Store) atomically(ctx context.Context, op string, fn func(ex DBTX) error) error {
	return s.atomicallyWith(ctx, op, nil, fn)
}

// atomicallyWith is atomically, with a transaction of the Store's own
// begun with opts (a host's transaction keeps its own).
func (s *Store) atomicallyWith(ctx context.Context, op string, opts *sql.TxOptions, fn func(ex DBTX) error) error {
	if s.begin == nil {
		return s.inSavepoint(ctx, op, fn)
	}
	release, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.begin.BeginTx(ctx, opts)
	if err != nil {
		return wrap(op+": begin", err)
	}
	var ex DBTX = tx
	if s.stmts != nil {
		ex = cachedTx{tx: tx, c: s.stmts}
	}
	if err := fn(ex); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.cfg.Logger.WarnContext(ctx, "sqlstore: rollback failed", "op", op, "error", rerr)
		}
		return cancelled(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return cancelled(ctx, op+": commit", wrap(op+": commit", err))
	}
	return nil
}

// cancelled returns err, or, when ctx has ended and err is a database error
// (an *Error: database/sql's "transaction has already been committed or
// rolled back" once its context watcher rolled the transaction back, or
// the bad connection a driver reports after cancelling a statement),
// ctx's error: the cancellation is what failed the write, and the host
// should see it as such. The core's errors (a conflict, a collision) found
// before the cancellation stay.
func cancelled(ctx context.Context, op string, err error) error {
	var dbErr *Error
	if ctx.Err() == nil || !errors.As(err, &dbErr) {
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", op, ctx.Err())
}

// lockWrites waits until the Store may begin a write transaction of its
// own, and returns the function that lets the next one begin: on SQLite,
// which admits one writer at a time, until no other write transaction of
// the Store is running (see sqlite.lockWrites); elsewhere at once.
func (s *Store) lockWrites(ctx context.Context) (release func(), err error) {
	return s.dl.lockWrites(ctx)
}

func (s *Store) inSavepoint(ctx context.Context, op string, fn func(ex DBTX) error) error {
	if _, err := s.db.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return wrap(op+": savepoint", err)
	}
	if err := fn(s.db); err != nil {
		// Undo fn's statements even when ctx is what failed them.
		bg := context.WithoutCancel(ctx)
		if _, rerr := s.db.ExecContext(bg, "ROLLBACK TO SAVEPOINT "+savepoint); rerr != nil {
			s.cfg.Logger.WarnContext(ctx, "sqlstore: rollback to savepoint failed", "op", op, "error", rerr)
		} else if _, rerr := s.db.ExecContext(bg, "RELEASE SAVEPOINT "+savepoint); rerr != nil {
			s.cfg.Logger.WarnContext(ctx, "sqlstore: releasing savepoint failed", "op", op, "error", rerr)
		}
		return cancelled(ctx, op, err)
	}
	if _, err := s.db.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
		return cancelled(ctx, op+": release savepoint", wrap(op+": release savepoint", err))
	}
	return nil
}

// forgotten is the condition selecting the outbox rows of a deleted
// invitation that its Delete removes: all but the events still owed to the
// event sink (neither delivered nor dead). Its messages have nothing left
// to send; its delivered and dead events hold the invitee's data.
const forgotten = "(kind = 'message' OR delivered_at IS NOT NULL OR dead_at IS NOT NULL)"

// The SQL sets of the states.
const (
	openStates   = "('pending', 'sent')"
	closedStates = "('accepted', 'rejected', 'revoked', 'expired')"
)

// queries are the Store's fixed statements, built once by New.
type queries struct {
	get, getByIdempotencyKey, getByTokenHash, version string
	// locked has the same reads as locking reads, where the dialect has
	// currentReads.
	locked *queries
	// deleteTokens deletes the token rows of an invitation, deleteOutbox
	// its outbox rows (Purge), forgetOutbox those a Delete removes.
	deleteTokens, deleteOutbox, forgetOutbox string
	// insert, delete and update are txWrite's statements (see
	// buildUpdates).
	insert, delete, update string
	// kept are the dialect's keptColumns.
	kept sameColumns
	// lockInviter and countOpen enforce the inviters' limits (quota.go).
	lockInviter, countOpen string
}

func (s *Store) buildQueries() *queries {
	sel := "SELECT " + recordColumns + " FROM " + s.invitations
	q := &queries{
		get:                 bind(s.dl, sel+" WHERE tenant_id = ? AND id = ?"),
		getByIdempotencyKey: bind(s.dl, sel+" WHERE tenant_id = ? AND idempotency_key = ?"),
		getByTokenHash: bind(s.dl, "SELECT i.doc, i.token_hash, i.prev_tokens, i.code_hash, i.code_failures, i.request_digest FROM "+
			s.tokens+" k JOIN "+s.invitations+" i ON i.tenant_id = k.tenant_id AND i.id = k.invitation_id"+
			" WHERE k.token_hash = ?"),
		version:      bind(s.dl, "SELECT version FROM "+s.invitations+" WHERE tenant_id = ? AND id = ?"),
		deleteTokens: bind(s.dl, "DELETE FROM "+s.tokens+" WHERE tenant_id = ? AND invitation_id = ?"),
		deleteOutbox: bind(s.dl, "DELETE FROM "+s.outbox+" WHERE tenant_id = ? AND invitation_id = ?"),
		forgetOutbox: bind(s.dl, "DELETE FROM "+s.outbox+" WHERE tenant_id = ? AND invitation_id = ? AND "+forgotten),
		lockInviter:  bind(s.dl, s.dl.lockInviter(s.inviters)),
		countOpen: bind(s.dl, "SELECT count(*) FROM "+s.invitations+
			" WHERE tenant_id = ? AND inviter_id = ? AND state IN ('pending', 'sent') AND expires_at > ?"+s.dl.countOpenLock()),
	}
	if lock := s.dl.currentReads(); lock != "" {
		q.locked = &queries{get: q.get + lock, getByIdempotencyKey: q.getByIdempotencyKey + lock,
			getByTokenHash: q.getByTokenHash + lock, version: q.version + lock}
	}
	s.buildUpdates(q)
	return q
}

// reads returns the queries of the Store's point reads: locking reads once
// current is set.
func (s *Store) reads() *queries {
	if s.current {
		return s.q.locked
	}
	return s.q
}
