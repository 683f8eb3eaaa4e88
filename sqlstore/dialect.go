package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// dialect is what the SQL of one database differs in, one implementation a
// file: postgres.go, mysql.go and sqlite.go. The shared files build their
// statements from its answers and never ask which database they talk to.
// New makes one per Store (newDialect); the Stores WithTx derives from it
// share it.
type dialect interface {
	// placeholder returns the placeholder of a statement's argument
	// numbered n, from 1: $n on PostgreSQL, ? elsewhere.
	placeholder(n int) string
	// timeValue returns t as the dialect's time columns take it.
	timeValue(t time.Time) any
	// refusesNUL reports whether a JSON document must not hold the escape
	// \u0000 (PostgreSQL's jsonb cannot store U+0000).
	refusesNUL() bool

	// lockWrites waits until the Store may begin a write transaction and
	// returns what lets the next one begin (see Store.lockWrites).
	lockWrites(ctx context.Context) (release func(), err error)
	// currentReads returns the lock clause that makes a read in a host's
	// transaction read the rows' current versions instead of the
	// transaction's snapshot, where a plain read may see a snapshot older
	// than the rows the transaction's writes find (MySQL's REPEATABLE
	// READ), or "" where the Store's plain reads see current rows (see
	// Store.staleSnapshot).
	currentReads() string

	// openKey returns the condition selecting the open record (pending or
	// sent) of the tenant whose kind ("email", "phone" or "user") key is
	// the argument ph, in the unique index of open records' keys.
	openKey(kind, ph string) string
	// due returns the condition selecting the open records that expire at
	// or before the argument ph, and the column ListDue sorts them by,
	// those of the index of open records by expiry.
	due(ph string) (cond, order string)
	// idOrder returns the id column as List compares and sorts it: in byte
	// order, as invite.Cursor does.
	idOrder() string
	// filterColumn returns the column or document expression List and
	// Count compare for c, in byte order: the one 0003_filters indexes.
	filterColumn(c filterColumn) string
	// holds returns the condition selecting the rows whose document's
	// array (roles or groups) holds the string the argument ph carries,
	// encoded by holdsArg.
	holds(array, ph string) string
	holdsArg(v string) any
	// resendCount returns the document's resend_count as an integer, NULL
	// when the document lacks the key.
	resendCount() string

	// nullSafeEqual is the operator comparing two values equal when both
	// are NULL.
	nullSafeEqual() string
	// keptColumns are the columns, beside token_hash and prev_tokens, that
	// the first attempt of an update in a transaction (txWrite) requires
	// stored as the new values instead of setting them.
	keptColumns() []string
	// setsChangedOnly is true when an update in a transaction (txWrite)
	// given invite.Write.Prev sets only the columns that changed (see
	// diffWrite).
	setsChangedOnly() bool
	// lockInviter is the upsert of the inviters table's row (tenant_id,
	// inviter_id) that locks it until the transaction ends (quota.go).
	lockInviter(table string) string
	// countOpenLock ends the count of an inviter's open invitations: a
	// locking read where plain reads may see an older snapshot.
	countOpenLock() string
	// apply runs the validated writes of a batch and writes its outbox
	// rows, atomically, once: Store.Apply retries it.
	apply(ctx context.Context, s *Store, ws []write, ob *outboxWrite) error
	// purge deletes up to limit closed records closed before before, and
	// their token rows, atomically, once: Store.Purge retries it.
	purge(ctx context.Context, s *Store, before time.Time, limit int) (int, error)
	// outboxDue returns the condition selecting the outbox rows due at the
	// argument ph (neither delivered nor dead, available_at at or before
	// it), and the column the claim sorts them by, those of the claim's
	// index.
	outboxDue(ph string) (cond, order string)
	// outboxPending returns the condition selecting the outbox rows that
	// are neither delivered nor dead.
	outboxPending() string
	// outboxDead returns the condition selecting the dead (and
	// undelivered) outbox rows, of the tenant that is the argument ph
	// unless ph is "", those of the index of dead rows.
	outboxDead(ph string) string
	// claim claims the outbox rows c asks for, once: Store.ClaimOutbox
	// retries it.
	claim(ctx context.Context, s *Store, c *claimRequest) ([]*invite.OutboxEntry, error)
	// purgeOutbox deletes up to limit outbox rows delivered before before,
	// once: Store.PurgeOutbox retries it.
	purgeOutbox(ctx context.Context, s *Store, before time.Time, limit int) (int, error)
	// queueTx returns the options of the transactions of the outbox's
	// claims and settlements (nil: the default).
	queueTx() *sql.TxOptions
	// typed returns the placeholder ph cast to the PostgreSQL type pgType
	// where the dialect cannot tell an argument's type from its context
	// (PostgreSQL), or ph.
	typed(ph, pgType string) string
	// countsChangedRows reports whether an UPDATE's rows affected counts
	// the rows it changed rather than those it matched (MySQL).
	countsChangedRows() bool
	// messageSlots reports whether an insert holds the message it queues
	// for its own invitation in the row's message columns instead of an
	// outbox row (pgslot.go): PostgreSQL.
	messageSlots() bool

	// migrate applies the migrations of ms not recorded yet.
	migrate(ctx context.Context, s *Store, ms []migration) error
	// migrationsTable returns the CREATE TABLE IF NOT EXISTS of the
	// schema_migrations table named table.
	migrationsTable(table string) string
}

// newDialect returns a new implementation of d, or nil when d is not a
// dialect.
func newDialect(d Dialect) dialect {
	switch d {
	case Postgres:
		return &postgres{stmts: &stmtCache{}}
	case SQLite:
		return &sqlite{writes: make(chan struct{}, 1)}
	case MySQL:
		return mysql{}
	}
	return nil
}

// serverWrites is embedded by the dialects of database servers, which let
// write transactions run side by side: their lockWrites waits for nothing.
type serverWrites struct{}

func (serverWrites) lockWrites(context.Context) (func(), error) { return func() {}, nil }

// transactionalDDL is embedded by the dialects whose DDL is transactional
// (PostgreSQL, SQLite): each migration runs in a transaction that claims
// its row in schema_migrations first (see Store.migrateInTx).
type transactionalDDL struct{}

func (transactionalDDL) migrate(ctx context.Context, s *Store, ms []migration) error {
	return s.migrateInTx(ctx, ms)
}

// The open-key and due conditions of the dialects with partial indexes
// (PostgreSQL, SQLite): an index over the rows whose state is open.

func partialOpenKey(kind, ph string) string {
	return "state IN " + openStates + " AND " + kind + "_key = " + ph
}

func partialDue(ph string) (cond, order string) {
	return "state IN " + openStates + " AND expires_at <= " + ph, "expires_at"
}

// The outbox conditions of the dialects with partial indexes (PostgreSQL,
// SQLite).

func partialOutboxDue(ph string) (cond, order string) {
	return "delivered_at IS NULL AND dead_at IS NULL AND available_at <= " + ph, "available_at"
}

func partialOutboxPending() string { return "delivered_at IS NULL AND dead_at IS NULL" }

func partialOutboxDead(ph string) string {
	if ph == "" {
		return "dead_at IS NOT NULL AND delivered_at IS NULL"
	}
	return "tenant_id = " + ph + " AND dead_at IS NOT NULL AND delivered_at IS NULL"
}

// defaultTx is embedded by the dialects whose outbox transactions run at
// the database's default isolation level, with untyped arguments, and
// whose rows affected count the rows matched.
type defaultTx struct{}

func (defaultTx) queueTx() *sql.TxOptions   { return nil }
func (defaultTx) typed(ph, _ string) string { return ph }
func (defaultTx) countsChangedRows() bool   { return false }

// args collects the arguments of a statement and returns each one's
// placeholder.
type args struct {
	dl   dialect
	vals []any
}

func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	return a.dl.placeholder(len(a.vals))
}

// bind rewrites the ? placeholders of q, numbered in order, as the
// dialect's. The Store's statements hold no ? inside a literal.
func bind(dl dialect, q string) string {
	if dl.placeholder(1) == "?" || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString(dl.placeholder(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// placeholders returns the placeholders of count arguments numbered from
// first, the first preceded by open and each following one by sep.
func placeholders(dl dialect, first, count int, open, sep string) string {
	if count == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(open)
	for i := range count {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(dl.placeholder(first + i))
	}
	return b.String()
}
