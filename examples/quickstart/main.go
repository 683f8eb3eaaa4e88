// Command quickstart walks one invitation through its whole lifecycle:
// create, look up, resend, accept, list, expire and purge. By default it
// keeps the invitations with sqlstore in a SQLite file in the temporary
// directory (modernc.org/sqlite, pure Go: no server needed), recreated at
// every run; -store picks another store:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -store memory
//	go run ./examples/quickstart -store postgres -dsn 'postgres://user:password@localhost:5432/db?sslmode=disable'
//	go run ./examples/quickstart -store mysql -dsn 'user:password@tcp(localhost:3306)/db?loc=UTC&interpolateParams=true'
//
// On PostgreSQL and MySQL it uses tables of its own (prefix quickstart_),
// which it drops and creates afresh at every run: the demo moves a fake
// clock, expires and purges, so it must not share tables with anything.
// Apart from its first line, which names the store, the output is the same
// on every store.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // -store mysql
	_ "github.com/jackc/pgx/v5/stdlib" // -store postgres
	_ "modernc.org/sqlite"             // -store sqlite

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
	"github.com/invitekit/invite/sqlstore"
)

func main() {
	kind := flag.String("store", "sqlite", "where the invitations are kept: sqlite (a file in the temporary directory), memory, postgres or mysql")
	dsn := flag.String("dsn", "", "the database of -store postgres or mysql (its tables prefixed quickstart_ are dropped and recreated)")
	flag.Parse()
	cfg := storeConfig{
		kind:        *kind,
		dsn:         *dsn,
		tablePrefix: "quickstart_",
	}
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "quickstart: unexpected arguments:", strings.Join(flag.Args(), " "))
		flag.Usage()
		os.Exit(2)
	}
	if err := quickstart(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// storeConfig says which store the quickstart runs on.
type storeConfig struct {
	kind string // sqlite, memory, postgres or mysql
	// dsn is the database of postgres and mysql.
	dsn string
	// sqlitePath is the SQLite file, deleted (with its WAL files) first;
	// "" for a file in a new temporary directory, removed at the end.
	sqlitePath string
	// tablePrefix names the tables on postgres and mysql, dropped first.
	tablePrefix string
	// dropAfter drops those tables again when the quickstart ends.
	dropAfter bool
	// start is the demo clock's first reading; zero for 09:00 UTC today,
	// so that the dates printed look current.
	start time.Time
}

// quickstart opens the store of cfg and runs the lifecycle on it.
func quickstart(ctx context.Context, w io.Writer, cfg storeConfig) (err error) {
	store, name, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	fmt.Fprintln(w, "Store:", name)
	start := cfg.start
	if start.IsZero() {
		start = time.Now().UTC().Truncate(24 * time.Hour).Add(9 * time.Hour)
	}
	return run(w, store, start)
}

// openStore returns the store cfg names, empty and ready, a name for it,
// and the function that closes it.
func openStore(ctx context.Context, cfg storeConfig) (store invite.Store, name string, closeStore func() error, err error) {
	var driver, dsn, tmpDir string
	var dialect sqlstore.Dialect
	prefix := cfg.tablePrefix
	switch cfg.kind {
	case "memory":
		if cfg.dsn != "" {
			return nil, "", nil, errors.New("-dsn is for -store postgres or mysql")
		}
		return memstore.New(), "memory (memstore)", func() error { return nil }, nil
	case "sqlite":
		if cfg.dsn != "" {
			return nil, "", nil, errors.New("-dsn is for -store postgres or mysql")
		}
		// A fresh file at every run. The DSN is the one sqlstore's
		// documentation advises: writers wait for each other (busy
		// timeout, BEGIN IMMEDIATE) and readers never wait (WAL).
		name = "sqlite (sqlstore, " + cfg.sqlitePath + ")"
		if cfg.sqlitePath == "" {
			if tmpDir, err = os.MkdirTemp("", "invite-quickstart-"); err != nil {
				return nil, "", nil, err
			}
			cfg.sqlitePath = filepath.Join(tmpDir, "invite.db")
			name = "sqlite (sqlstore, a file in " + tmpDir + ", removed at the end)"
		}
		for _, f := range []string{cfg.sqlitePath, cfg.sqlitePath + "-wal", cfg.sqlitePath + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, "", nil, err
			}
		}
		driver, dialect, prefix = "sqlite", sqlstore.SQLite, ""
		// The path is a URI path: escape %, # and ?.
		path := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(filepath.ToSlash(cfg.sqlitePath))
		dsn = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	case "postgres", "mysql":
		if cfg.dsn == "" {
			return nil, "", nil, fmt.Errorf("-store %s needs -dsn", cfg.kind)
		}
		driver, dialect, dsn = "pgx", sqlstore.Postgres, cfg.dsn
		if cfg.kind == "mysql" {
			driver, dialect = "mysql", sqlstore.MySQL
		}
		name = cfg.kind + " (sqlstore, tables " + prefix + "*)"
	default:
		return nil, "", nil, fmt.Errorf("-store %q: want sqlite, memory, postgres or mysql", cfg.kind)
	}

	removeTmp := func() error {
		if tmpDir == "" {
			return nil
		}
		return os.RemoveAll(tmpDir)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, "", nil, errors.Join(err, removeTmp())
	}
	fail := func(err error) (invite.Store, string, func() error, error) {
		return nil, "", nil, errors.Join(err, db.Close(), removeTmp())
	}
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: dialect, TablePrefix: prefix})
	if err != nil {
		return fail(err)
	}
	if dialect != sqlstore.SQLite {
		if err := dropTables(ctx, db, st); err != nil {
			return fail(fmt.Errorf("%s: %w", cfg.kind, err))
		}
	}
	if err := st.Migrate(ctx); err != nil {
		return fail(fmt.Errorf("%s: %w", cfg.kind, err))
	}
	closeStore = func() error {
		var err error
		if cfg.dropAfter && dialect != sqlstore.SQLite {
			err = dropTables(context.WithoutCancel(ctx), db, st)
		}
		return errors.Join(err, db.Close(), removeTmp())
	}
	return st, name, closeStore, nil
}

// dropTables drops the tables of st.
func dropTables(ctx context.Context, db *sql.DB, st *sqlstore.Store) error {
	for _, table := range st.Tables() {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			return err
		}
	}
	return nil
}

// run walks one invitation through its lifecycle on store, printing what
// happens to w. It checks every expected outcome itself and returns an
// error on the first surprise.
func run(w io.Writer, store invite.Store, start time.Time) error {
	// A clock we can move, to show expiry without waiting a week.
	now := start
	var inbox string // the link of the last message "sent"

	// The notifier stands in for an email provider. DEMO ONLY: it prints the
	// invitation link because that is what the email would contain. A real
	// notifier renders msg.Vars.Map() into its template and hands the result
	// to its transport; it must never log the link or the code (printed with
	// fmt or slog, msg.Vars shows them as [REDACTED]).
	notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
		v := msg.Vars
		inbox = v.InviteLink.Reveal()
		fmt.Fprintf(w, "  %s to %s: Hi %s, %s invited you to join %s. %s (valid until %s)\n",
			msg.Channel, msg.To, v.Name, v.InvitedBy, v.AccountName, inbox, v.ExpiresAt.Format(time.DateOnly))
		return nil
	})
	// Events are queued with the change that caused them and published by
	// the dispatcher, at least once; a real sink forwards them to a queue or
	// webhook (they never carry a secret).
	sink := invite.EventSinkFunc(func(ctx context.Context, events []invite.Event) error {
		for _, e := range events {
			actor := e.Actor.Kind
			if e.Actor.ID != "" {
				actor += ":" + e.Actor.ID
			}
			fmt.Fprintf(w, "  event %-22s by %s\n", e.Type, actor)
		}
		return nil
	})
	m, err := invite.New(store, invite.Config{
		Now:          func() time.Time { return now },
		Notifier:     notifier,
		EventSink:    sink,
		LinkTemplate: "https://app.example/invite?token={{.Token}}&org={{.TenantID}}",
	})
	if err != nil {
		return err
	}
	// The dispatcher delivers what the writes queued: the events, and any
	// message the notifier could not take at once. A service runs it for
	// good (go d.Run(ctx)); the demo drains it after every step instead,
	// one entry at a time, so that the events print in order.
	d, err := m.NewDispatcher(invite.DispatcherConfig{Concurrency: 1})
	if err != nil {
		return err
	}
	// Changes made through this context are attributed to the admin.
	ctx := invite.WithActor(context.Background(), invite.Actor{Kind: invite.ActorAdmin, ID: "admin-7"})
	step := func(title string) error {
		if _, err := d.Drain(ctx); err != nil {
			return err
		}
		fmt.Fprintln(w, title)
		return nil
	}

	if err := step("1. An admin invites Ada"); err != nil {
		return err
	}
	in := invite.CreateInput{
		TenantID:    "acme",
		Invitee:     invite.Invitee{Email: "ada@example.com"},
		GivenName:   "Ada",
		FamilyName:  "Lovelace",
		Inviter:     invite.Inviter{ID: "admin-7", Name: "Charles"},
		AccountName: "Acme Corp",
		Roles:       []string{"editor"},
		Groups:      []string{"engineering"},
		Data:        map[string]string{"department": "R&D"},
	}
	res, err := m.Create(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  state:", res.Invitation.State, "| res.Token prints as:", res.Token)

	if err := step("2. Ada opens the link: the registration form is pre-filled (nothing changes)"); err != nil {
		return err
	}
	first := tokenFrom(inbox)
	inv, err := m.Lookup(ctx, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  email=%s name=%q data=%v invited by %s, expires %s\n", inv.Invitee.Email, inv.Name(),
		inv.Data, inv.Inviter.Name, inv.ExpiresAt.Format(time.DateOnly))

	if err := step("3. Inviting Ada again while her invitation is open"); err != nil {
		return err
	}
	if _, err := m.Create(ctx, in); !errors.Is(err, invite.ErrAlreadyExists) {
		return unexpected("duplicate create", invite.ErrAlreadyExists, err)
	}
	fmt.Fprintln(w, "  ErrAlreadyExists (set Supersede to replace it, or use Upsert)")

	if err := step("4. A day later, the admin resends: a new link, the old one stops working"); err != nil {
		return err
	}
	now = now.Add(24 * time.Hour)
	res, err = m.Resend(ctx, "acme", res.Invitation.ID, invite.ResendOptions{})
	if err != nil {
		return err
	}
	if _, err := m.Lookup(ctx, first); !errors.Is(err, invite.ErrInvalidToken) {
		return unexpected("old link", invite.ErrInvalidToken, err)
	}
	fmt.Fprintln(w, "  sends:", res.Invitation.SendCount, "| old link: ErrInvalidToken")

	if err := step("5. Ada registers as user-1815 and accepts; the host applies the grants"); err != nil {
		return err
	}
	token := tokenFrom(inbox)
	acc, err := m.Accept(ctx, token, invite.AcceptInput{Subject: "user-1815", Email: "ada@example.com"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  state=%s roles=%v groups=%v data=%v\n", acc.Invitation.State, acc.Invitation.Roles,
		acc.Invitation.Groups, acc.Invitation.Data)

	if err := step("6. The accept request is retried, then someone else tries the link"); err != nil {
		return err
	}
	acc, err = m.Accept(ctx, token, invite.AcceptInput{Subject: "user-1815"})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  same subject: replayed =", acc.Replayed)
	if _, err := m.Accept(ctx, token, invite.AcceptInput{Subject: "user-666"}); !errors.Is(err, invite.ErrAlreadyAccepted) {
		return unexpected("other subject", invite.ErrAlreadyAccepted, err)
	}
	fmt.Fprintln(w, "  other subject: ErrAlreadyAccepted")

	if err := step("7. Bob is invited too, and the admin lists the tenant"); err != nil {
		return err
	}
	if _, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "bob@example.com"},
		GivenName: "Bob", Inviter: invite.Inviter{ID: "admin-7", Name: "Charles"}, AccountName: "Acme Corp"}); err != nil {
		return err
	}
	if err := list(ctx, w, m); err != nil {
		return err
	}

	if err := step("8. Bob never answers; eight days later the expiry sweep closes his invitation"); err != nil {
		return err
	}
	now = now.Add(8 * 24 * time.Hour)
	n, err := m.ExpireDue(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "  expired:", n)
	if err := list(ctx, w, m); err != nil {
		return err
	}

	if err := step("9. A month on, closed invitations past the 30-day retention are purged (no events)"); err != nil {
		return err
	}
	now = now.Add(31 * 24 * time.Hour)
	if n, err = m.Purge(ctx, 30*24*time.Hour, 0); err != nil {
		return err
	}
	fmt.Fprintln(w, "  purged:", n)
	if err := list(ctx, w, m); err != nil {
		return err
	}
	_, err = d.Drain(ctx)
	return err
}

// unexpected reports a call that did not fail with want. It wraps what the
// call returned instead, so that a caller can tell a database failure.
func unexpected(what string, want, got error) error {
	if got == nil {
		return fmt.Errorf("%s: want %v, got success", what, want)
	}
	return fmt.Errorf("%s: want %v, got %w", what, want, got)
}

// list prints every invitation of the tenant, expired ones included.
func list(ctx context.Context, w io.Writer, m *invite.Manager) error {
	page, err := m.List(ctx, "acme", invite.ListOptions{Filter: invite.Filter{IncludeExpired: true}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %d invitation(s):", len(page.Invitations))
	for _, inv := range page.Invitations {
		fmt.Fprintf(w, " %s=%s", inv.Invitee.Email, inv.State)
	}
	fmt.Fprintln(w)
	return nil
}

// tokenFrom reads the token out of an invitation link, as the host's
// /invite handler would.
func tokenFrom(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}
