package sqlstore

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/invitekit/invite"
)

// Dialect selects the SQL a Store speaks. There is no default and no
// detection: a Store is built for exactly one dialect, named in Config.
type Dialect int

// The dialects.
const (
	// Postgres is PostgreSQL 14 or later, through any database/sql driver
	// (pgx's stdlib, lib/pq). The SQL stays within what CockroachDB and
	// YugabyteDB accept: no advisory locks, no LISTEN/NOTIFY.
	Postgres Dialect = iota + 1
	// SQLite is SQLite 3.35 or later (modernc.org/sqlite, mattn/go-sqlite3).
	SQLite
	// MySQL is MySQL 8.0.16 or later, or MariaDB 10.11 or later
	// (github.com/go-sql-driver/mysql).
	MySQL
)

// String returns the dialect's name: "postgres", "sqlite" or "mysql".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	case MySQL:
		return "mysql"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d == Postgres || d == SQLite || d == MySQL }

// DefaultTablePrefix is Config.TablePrefix's default.
const DefaultTablePrefix = "invite_"

// MaxTablePrefixLen is the longest TablePrefix New accepts: with the longest
// index name suffix it keeps every identifier within PostgreSQL's 63 and
// MySQL's 64 characters.
const MaxTablePrefixLen = 24

// DefaultMigrationLockTimeout is Config.MigrationLockTimeout's default.
const DefaultMigrationLockTimeout = time.Minute

// Config configures a Store. Only Dialect is required; New fills the
// defaults of the other fields and rejects invalid values up front.
type Config struct {
	// Dialect is the database the Store talks to. Required: the zero value
	// is rejected.
	Dialect Dialect

	// TablePrefix is prepended to every table and index name the Store
	// creates and queries: <prefix>invitations, <prefix>tokens,
	// <prefix>outbox, <prefix>inviters and <prefix>schema_migrations
	// (Store.Tables lists them). It must start with a lower-case ASCII
	// letter, hold only lower-case ASCII letters, digits and underscores,
	// and be at most MaxTablePrefixLen characters long, so it never needs
	// quoting. Default: DefaultTablePrefix ("invite_").
	TablePrefix string

	// Logger receives what the Store has to say outside its return values:
	// each migration applied (Info) and failures to roll back a transaction
	// or savepoint after an error (Warn). It never receives a secret or a
	// hash of one. Default: a logger that discards everything.
	Logger *slog.Logger

	// MigrationLockTimeout bounds how long Migrate waits, on MySQL and
	// MariaDB, for another process migrating the same tables to finish
	// (GET_LOCK); it is rounded up to whole seconds. Other dialects
	// serialise migrations through the schema_migrations table and wait as
	// long as the context allows. Default: DefaultMigrationLockTimeout (one
	// minute).
	MigrationLockTimeout time.Duration
}

// withDefaults validates cfg and fills its defaults. Every bad field is
// reported, in one *invite.ValidationError.
func (cfg Config) withDefaults() (Config, error) {
	var fields []invite.FieldError
	bad := func(field, reason string) { fields = append(fields, invite.FieldError{Field: field, Reason: reason}) }
	if !cfg.Dialect.valid() {
		bad("Dialect", "must be sqlstore.Postgres, sqlstore.SQLite or sqlstore.MySQL")
	}
	if cfg.TablePrefix == "" {
		cfg.TablePrefix = DefaultTablePrefix
	} else if !validPrefix(cfg.TablePrefix) {
		bad("TablePrefix", "must start with a lower-case letter, hold only a-z, 0-9 and _, and be at most "+
			strconv.Itoa(MaxTablePrefixLen)+" characters long")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.MigrationLockTimeout < 0:
		bad("MigrationLockTimeout", "must not be negative")
	case cfg.MigrationLockTimeout == 0:
		cfg.MigrationLockTimeout = DefaultMigrationLockTimeout
	}
	if len(fields) > 0 {
		return cfg, &invite.ValidationError{Fields: fields}
	}
	return cfg, nil
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxTablePrefixLen || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
