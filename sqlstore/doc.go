// Package sqlstore is an invite.Store on database/sql, for PostgreSQL
// (and CockroachDB, YugabyteDB), SQLite, and MySQL or MariaDB.
//
// It imports database/sql and no driver: the host opens the database with
// the driver of its choice and names the dialect.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // github.com/jackc/pgx/v5/stdlib
//	...
//	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres})
//	...
//	if err := store.Migrate(ctx); err != nil { ... } // at startup, from every replica
//	manager, err := invite.New(store, invite.Config{...})
//
// # Dialects and connections
//
// PostgreSQL 14 or later, through pgx's stdlib ("pgx") or lib/pq
// ("postgres"). The Store's SQL stays within what CockroachDB and
// YugabyteDB accept: no advisory locks, no LISTEN/NOTIFY, no column
// collations. It works at READ COMMITTED (PostgreSQL's default) and at
// SERIALIZABLE (CockroachDB's), where a serialisation failure of a write
// the Store owns is retried, five attempts in all, with a short random
// pause between them; a write that still loses (many writers contending
// for one invitee, say) returns the failure, matching ErrRetryable (see
// Errors).
//
// SQLite 3.35 or later, through modernc.org/sqlite ("sqlite", pure Go) or
// mattn/go-sqlite3. SQLite admits one writer at a time; open it so that
// writers wait for each other instead of failing with SQLITE_BUSY: a busy
// timeout, WAL (readers never wait for the writer), and BEGIN IMMEDIATE for
// every transaction (a transaction that read first and writes later cannot
// always be made to wait, and fails at once). With modernc.org/sqlite:
//
//	file:/var/lib/app/invite.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate
//
// and with mattn/go-sqlite3:
//
//	file:/var/lib/app/invite.db?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate
//
// The path is a URI path: escape a %, # or ? in it (%25, %23, %3F).
//
// Open one *sql.DB per file per process and share it: the Store queues its
// own write transactions in the process (handing the write lock on the
// moment it is free, where SQLite's busy handler would poll with sleeps)
// and lets reads run in parallel on the pool's other connections. A pool of
// a few connections (SetMaxOpenConns(4) to 16) is plenty; a pool of one
// works, but runs the statements of its transactions unprepared (the Store
// keeps its statements prepared, which takes a second connection). Several processes
// on one file are kept apart by SQLite's locking and the busy timeout. An
// in-memory database must be shared by the pool's connections
// ("file:name?mode=memory&cache=shared"); ":memory:" gives every connection
// a database of its own.
//
// MySQL 8.0.16 or later, or MariaDB 10.11 or later, through
// github.com/go-sql-driver/mysql ("mysql"), with this DSN:
//
//	user:password@tcp(host:3306)/dbname?loc=UTC&interpolateParams=true
//
// loc=UTC (the driver's default) stores times as UTC; another location
// would store local wall-clock times. interpolateParams=true sends each
// statement with its arguments in one round trip instead of preparing it
// first (three round trips). parseTime is optional: an invitation's times
// come back from its JSON document, and the outbox's time columns are
// read with or without it. Outbox claims and purges run at READ COMMITTED
// (see Outbox), which InnoDB allows with row-based or mixed binary
// logging (the default), not with binlog_format=STATEMENT.
//
// # Schema
//
// Migrate creates the schema from numbered migrations embedded in the
// package (migrations/<dialect>/NNNN_name.sql; the comment at the top of
// each says what it does), with every table and index name prefixed by
// Config.TablePrefix ("invite_" by default). The migrations so far:
//
//   - 0001_init creates <prefix>invitations, <prefix>tokens and
//     <prefix>outbox with the indexes below.
//   - 0002_outbox makes the outbox a queue of events and messages: it adds
//     the columns kind, owner and dead_at and the outbox indexes below,
//     and marks delivered, at their created_at, the rows still undelivered
//     when it runs: they were written before anything delivered them, and
//     an upgrade must not replay the store's history to a newly configured
//     event sink.
//   - 0003_filters indexes List's and Count's filters on what only the
//     document holds: the client id (expression indexes of doc on
//     PostgreSQL and SQLite; on MySQL the STORED generated columns
//     client_key and template_key and their index), and email_key in
//     byte order for invite.Filter.Search. The database computes them on
//     every write, whichever version of the package wrote the row. (Its
//     name keys, which folded ASCII letters only, 0005 replaces.)
//   - 0004_quota_idempotency adds <prefix>inviters, whose rows writes
//     under a limit of open invitations lock, the index of an inviter's
//     open invitations, and the column request_digest
//     (invite.Credentials.RequestDigest).
//   - 0005_search_keys adds the columns search_name and search_family,
//     invite.Invitation.NameKeys of the invitee's names, and their
//     indexes: invite.Filter.Search matches names whatever the case of
//     their letters in any script. The package writes them on every
//     write, and Migrate fills them in for the rows already there before
//     it records the migration: on PostgreSQL and SQLite in the
//     migration's transaction, so the invitations table is locked until
//     it ends (about 3 seconds per 100,000 rows on a 2-core machine); on
//     MySQL in a transaction per batch of 500 rows (about 6 seconds per
//     100,000), leaving alone a row written meanwhile. A process still
//     running an older version of the package does not write them: a row
//     it inserts is not found by the name search, and a name it changes
//     is found by the old one, until the row's next write by this
//     version. Roll every process forward before relying on the search.
//   - 0006_message_slot (PostgreSQL only) adds the invitation's message
//     columns msg_id, msg_created, msg_due and msg_payload (see Outbox),
//     their two indexes, and the constraints keeping message ids unique
//     across them and the outbox. A process still running an older
//     version writes every message as an outbox row, which this version
//     reads as before; roll every process forward all the same, since an
//     older one neither claims nor settles the messages the others hold on
//     invitation rows (it would send such a message a second time).
//
// Migrate records each migration it applies in <prefix>schema_migrations
// (version, file name, SHA-256, time) and is safe to call from every replica
// at once: see Store.Migrate.
//
// <prefix>invitations holds one row per invitation: the whole
// invite.Invitation as a JSON document (doc: jsonb on PostgreSQL, JSON on
// MySQL and MariaDB, TEXT on SQLite), which is what reads return, and the
// columns the queries filter and sort on, copied from it on every write:
// tenant_id, id, version, state, email_key (invite.EmailKey of the email),
// phone_key, user_key, inviter_id, idempotency_key, created_at, expires_at,
// closed_at, and search_name and search_family (invite.Invitation.NameKeys).
// The credentials are columns of their own: token_hash,
// prev_tokens (JSON: hash and expiry of each previous token), code_hash and
// code_failures. No plaintext token or code is ever stored.
//
// <prefix>tokens maps every current and previous token hash (its primary
// key) to its invitation, so that a token lookup is one probe whichever
// hash it is, and a hash can belong to one invitation only.
//
// <prefix>outbox is the queue of what the writes owe the outside world,
// written in the same statement or transaction as the write that causes
// it: one row per invite.Event of the batch (kind 'event') and per
// invite.QueuedMessage (kind 'message'). Its columns: id (the event's or
// the message's id, the primary key), kind, tenant_id, invitation_id,
// type (the event's type, or 'message'), payload, created_at, and the
// delivery state: attempts, available_at (when the row is next due; while
// it is claimed, the end of the claim's lease), owner (the dispatcher
// holding, or that last held, its claim), delivered_at, dead_at and
// last_error. An event's payload is the event's JSON (its invitations
// before and after the change: no secret, no hash of one); a message's is
// {"resend", "resend_count", "available_at"}, the fields of the
// invite.QueuedMessage no column holds (no secret either: the dispatcher
// mints a fresh one when it sends). A row is due when delivered_at and
// dead_at are NULL and available_at has come. See Outbox.
//
// On PostgreSQL an invitation row also has message columns (msg_id,
// msg_created, msg_due, msg_payload), where an insert holds the message
// it queues for that invitation: see Outbox.
//
// The indexes keep every operation an index lookup or range scan: the
// primary key (tenant_id, id); the tokens' primary key; unique (tenant_id,
// idempotency_key); one open invitation per invitee key and tenant, enforced
// by the database: unique (tenant_id, email_key), (tenant_id, phone_key) and
// (tenant_id, user_key) over the rows whose state is pending or sent
// (partial indexes on PostgreSQL and SQLite; on MySQL, unique indexes on
// STORED generated columns that hold the key while the state is open and
// NULL otherwise); (tenant_id, created_at, id) for List's keyset pages
// (and its offset pages, which the database reads from the start of the
// range); (tenant_id, client id) for Filter.ClientID; (tenant_id,
// search_name), (tenant_id, search_family) and (tenant_id, email_key) for
// Filter.Search, a prefix searched as a range [prefix, next prefix) in
// byte order on each of the three, so that no character of it is a LIKE
// wildcard (the roles, groups, template key and Filter.Resent are checked
// on the rows the other conditions select);
// expires_at over the open rows for ListDue; closed_at over the closed rows
// for Purge; and (tenant_id, invitation_id) on the tokens. On the outbox:
// available_at over the rows neither delivered nor dead, the claim's (with
// id on SQLite; on MySQL the generated column due_at); (tenant_id, id)
// over the dead rows, for a tenant's dead letters (on MySQL the generated
// column dead_tenant); (tenant_id, invitation_id), for a Delete's and
// Purge's cleanup; and delivered_at over the delivered rows, for
// PurgeOutbox.
//
// On SQLite a Store on a *sql.DB keeps its statements prepared (up to 256
// distinct texts; database/sql prepares each on every connection that runs
// it): the driver would otherwise parse and plan every statement on every
// call. A Store on a host's transaction runs them unprepared.
//
// Times are stored in UTC with microsecond precision (timestamptz,
// DATETIME(6), INTEGER unix microseconds on SQLite) and returned in UTC.
// Identifiers compare and sort byte for byte, as invite.Cursor does
// (COLLATE "C" in PostgreSQL's queries, VARBINARY columns on MySQL).
//
// # Round trips
//
// On PostgreSQL a write of one invitation (Create, Accept, Reject, Revoke,
// Resend, a sweep's expiry, marking a message sent) is one statement: a
// data-modifying CTE that writes the invitation row guarded by its version,
// brings the token rows in line, queues its message (held on the row an
// insert writes: see Outbox) and its events when the Manager has an event
// sink, and settles the messages the write records as delivered, with no
// BEGIN or COMMIT. Create costs one statement, marking its message sent
// one more (a plain UPDATE that also empties the message columns), Accept
// two (the token lookup and the guarded write). A Delete that also
// settles delivered rows is the exception: a transaction of two
// statements.
//
// On SQLite and MySQL a write is one transaction: BEGIN, the invitation's
// INSERT (and one INSERT of its token rows) or its UPDATE guarded by
// version and by the stored token hashes (on SQLite also by the stored
// created_at and idempotency_key, which it then leaves out of its SET, so
// that SQLite does not rewrite those indexes' entries), one multi-row
// INSERT into the outbox, one DELETE of the outbox rows it records as
// delivered, COMMIT. Accept is the lookup and then BEGIN, UPDATE, INSERT,
// COMMIT. A Resend, which rotates the token, misses the token guard and
// costs a SELECT of the version, the UPDATE under the version guard alone,
// and a DELETE and an INSERT of the token rows.
//
// Everywhere, a write that loses a version race costs one more SELECT (to
// tell invite.ErrConflict from invite.ErrNotFound); a batch of several
// writes is one transaction with a statement (PostgreSQL) or two to four
// (elsewhere) per write; inside a host's transaction each write adds a
// SAVEPOINT and a RELEASE. Reads are one statement each: Get,
// GetByTokenHash (the tokens row joined to its invitation),
// GetByIdempotencyKey, FindOpen (one UNION ALL of a lookup per key), a List
// page (LIMIT the page size + 1, to learn whether another page follows,
// and OFFSET for an offset page), Count (one SELECT count(*) with List's
// conditions, on the same indexes), ListDue. Purge is one statement on PostgreSQL; on SQLite a transaction
// that selects the ids and deletes by them, 500 at a time (MySQL cannot
// LIMIT a subquery on the table it deletes from); on MySQL a transaction
// that selects the ids without locks, locks those still due by primary key
// (SKIP LOCKED: another replica's purge or a write holds the rest, purged
// next time), 500 per statement, and deletes them and their token rows one
// invitation at a time: a multi-row DELETE or a locking scan of the
// purge_at index takes gap locks that hold up Creates and deadlock
// concurrent purges. A Purge of 1,000 there is about 2,000 short
// statements in one transaction.
//
// # Limits of open invitations per inviter
//
// The Store implements invite.OpenLimiter. A batch that inserts an
// invitation under its inviter's limit (invite.Write.OpenLimit) runs in a
// transaction (on PostgreSQL too, instead of the one statement): it first
// locks the inviter's row of the inviters table (an upsert of (tenant_id,
// inviter_id), which holds the row until the transaction ends, so that
// concurrent batches for one inviter take turns), writes, then counts the
// inviter's open invitations (pending or sent, expiring after the new
// one's creation; on MySQL a locking read, which sees what was committed
// whatever the snapshot) on the index (tenant_id, inviter_id) over the
// open rows, and rolls back with invite.ErrQuotaExceeded when they number
// more than the limit. The inviters table keeps a row per tenant and
// inviter that was ever limited; Purge leaves them.
//
// # Outbox
//
// The Store implements invite.Outbox, the queue a dispatcher
// (invite.Manager.NewDispatcher) delivers from, at least once, whatever
// crashes in between: Apply queues a batch's events and messages with its
// writes and deletes the rows of the messages the write records as
// delivered (the invitation, marked sent, is their record; a delete costs
// less than the update to delivered_at, whose index entries it spares); a
// Delete removes the invitation's earlier rows except the events still
// owed to the event sink, and Purge every row of the invitations it
// purges.
//
// ClaimOutbox hands due rows to one dispatcher at a time. On PostgreSQL it
// is one statement, an UPDATE of the rows a CTE selects (soonest
// available_at first, at most the limit) with FOR UPDATE SKIP LOCKED,
// RETURNING them; on MySQL and MariaDB a READ COMMITTED transaction that
// selects them with FOR UPDATE SKIP LOCKED and updates them by id (READ
// COMMITTED takes no gap locks, which would hold up the outbox inserts of
// concurrent writes); on SQLite a write transaction. Concurrent claims
// skip the rows another holds, so no row is handed out twice while its
// lease holds. A claim adds one to attempts, sets owner, and moves
// available_at to the end of the lease: a row whose dispatcher died is due
// again then.
//
// SettleOutbox records outcomes in one UPDATE per outcome (a transaction
// when a call has several), each guarded by the claim it answers (id,
// owner, attempts, and neither delivered nor dead): a dispatcher whose
// lease ran out settles nothing. ListDeadOutbox pages through a tenant's
// dead rows by id, RedriveOutbox makes them due again, PurgeOutbox deletes
// delivered rows by delivered_at (a DELETE ... LIMIT on MySQL, a DELETE of
// the ids a subquery selects elsewhere), and OutboxStats counts pending
// and dead rows in one statement. A dead row that a later write records
// as delivered is deleted with the others.
//
// On PostgreSQL, an insert that queues exactly one message for the
// invitation it inserts (Create in send mode) holds the message in the
// invitation row's message columns instead of an outbox row, and the
// write marking the invitation sent empties them in its own UPDATE: an
// outbox row inserted and deleted for each Create cost about a fifth of
// its throughput. ClaimOutbox first moves the held messages that have come
// due (the Manager's own attempt failed, or never ran) into outbox rows,
// in one statement that locks their invitation rows FOR UPDATE SKIP
// LOCKED; OutboxStats counts them as pending; a Delete or Purge removes
// them with their row. A write settling or forgetting a held message
// that a claim moves meanwhile runs again on a later snapshot, so that
// it finds the moved row (Purge leaves such an invitation for its next
// call). Message ids are unique across held messages and outbox rows: a
// collision is invite.ErrAlreadyExists, as on the outbox's primary key.
//
// Inside a host's transaction (WithTx) the outbox rows of a write commit
// or roll back with it, and the Store reports InHostTransaction: the
// Manager then sends and publishes nothing itself, and a dispatcher
// delivers what the host committed. Claims and settlements work there too,
// inside the host's transaction.
//
// # Concurrency and transactions
//
// Every state change is one atomic write of the new version guarded by the
// version it was computed from (UPDATE ... WHERE tenant_id = ? AND id = ?
// AND version = ?). The database re-checks the guard on the row it locked
// (PostgreSQL's READ COMMITTED re-evaluates the WHERE of an UPDATE that
// waited for another), so of many concurrent Accepts of one token exactly
// one writes; the others find the new version and the Manager reports
// invite.ErrAlreadyAccepted.
//
// A batch of several statements runs in a transaction the Store begins on
// its *sql.DB or *sql.Conn, or, on a Store from WithTx, inside the host's
// transaction under a savepoint: the host's own writes and the invitation's
// then commit or roll back together, and a failed write leaves the host's
// transaction usable. A write whose transaction the database aborted to
// resolve a deadlock or a serialisation failure is run again, up to eight
// times in all, when the Store owns the transaction (InnoDB deadlocks
// concurrent inserts colliding on several unique indexes; the retry then
// reports the collision).
//
// # Errors
//
// Driver errors are translated without importing a driver: a unique
// violation is invite.ErrAlreadyExists (the error names the constraint,
// never the colliding value), a row that is not there is
// invite.ErrNotFound, a lost version race invite.ErrConflict. Every other
// database failure is an *Error wrapping the driver's error, which matches
// ErrRetryable when running the operation again may succeed (a lost
// connection, a deadlock, SQLITE_BUSY: see IsRetryable). Input the schema
// cannot hold is an *invite.ValidationError before any statement runs (an
// outbox id, like an event's or a message's, must be UTF-8 without
// control characters, at most 255 bytes long);
// notably PostgreSQL's jsonb cannot hold U+0000, so on PostgreSQL an
// invitation or event with a NUL character in a string (Data, FormData,
// Metadata) is refused. Migrate's failures are a *MigrationError. A write
// whose context ends before it commits returns an error matching the
// context's error (not the driver's "bad connection" or "transaction has
// already been committed or rolled back"), and nothing of it is written;
// as with any database, though, a commit already sent when the context
// ends may land although the call reports the cancellation, so a host
// that must know re-reads.
package sqlstore
