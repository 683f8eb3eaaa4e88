package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // -db postgres://...
	_ "modernc.org/sqlite"             // the default database

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitedev"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/sqlstore"
)

// app is the running application: the database, the invite Manager on it,
// and the application's own users.
type app struct {
	cfg     config
	log     *slog.Logger
	db      *sql.DB
	dialect sqlstore.Dialect
	dbName  string // for the start banner
	store   *sqlstore.Store
	m       *invite.Manager
	users   *users
	api     http.Handler
	pages   *pages
}

// sentMessage is what the development notifier wrote, for config.sent.
type sentMessage struct {
	To, Link, Locale string
	Resend           bool
}

// openApp opens the database of cfg, migrates it and builds the Manager,
// the API and the pages.
func openApp(ctx context.Context, cfg config) (a *app, err error) {
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.sweepEvery == 0 {
		cfg.sweepEvery = time.Minute
	}
	a = &app{cfg: cfg, log: cfg.logger}
	if err := a.openDB(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.db.Close())
		}
	}()

	dev, err := invitedev.New(invitedev.Config{Dir: cfg.mailDir, Logger: cfg.logger, Now: cfg.now})
	if err != nil {
		return nil, err
	}
	var delivery invite.Notifier = dev
	if cfg.smtp != "" {
		if delivery, err = smtpNotifier(cfg.smtp, cfg.smtpFrom, cfg.logger); err != nil {
			return nil, err
		}
	}
	notifier := delivery
	if cfg.sent != nil {
		notifier = invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
			if err := delivery.Notify(ctx, msg); err != nil {
				return err
			}
			cfg.sent(sentMessage{To: msg.To, Link: msg.Vars.InviteLink.Reveal(), Locale: msg.Locale, Resend: msg.Resend})
			return nil
		})
	}
	a.m, err = invite.New(a.store, invite.Config{
		Now:          cfg.now,
		Logger:       cfg.logger,
		Notifier:     notifier,
		EventSink:    invite.EventSinkFunc(a.logEvents),
		LinkTemplate: cfg.baseURL + "/invite/{{.Token}}",
	})
	if err != nil {
		return nil, err
	}
	a.api, err = invitehttp.New(invitehttp.Config{
		Manager:      a.m,
		Authorize:    a.authorize,
		BeforeCreate: beforeCreate,
		Retryable:    sqlstore.IsRetryable,
		Logger:       cfg.logger,
	})
	if err != nil {
		return nil, err
	}
	if a.pages, err = newPages(a); err != nil {
		return nil, err
	}
	return a, nil
}

// openDB opens and migrates the database: the library's tables and the
// application's users.
func (a *app) openDB(ctx context.Context) error {
	var driver, dsn string
	if strings.HasPrefix(a.cfg.db, "postgres://") || strings.HasPrefix(a.cfg.db, "postgresql://") {
		driver, dsn, a.dialect = "pgx", a.cfg.db, sqlstore.Postgres
		a.dbName = "PostgreSQL"
	} else {
		path, err := filepath.Abs(a.cfg.db)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		// The DSN sqlstore's documentation advises: writers wait for each
		// other (busy timeout, BEGIN IMMEDIATE), readers never wait (WAL).
		// The path is a URI path: escape %, # and ?.
		escaped := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(filepath.ToSlash(path))
		driver, a.dialect = "sqlite", sqlstore.SQLite
		dsn = "file:" + escaped + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		a.dbName = "SQLite " + path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	a.db = db
	if a.dialect == sqlstore.SQLite {
		db.SetMaxOpenConns(4)
	}
	fail := func(err error) error { return errors.Join(err, db.Close()) }
	if a.store, err = sqlstore.New(db, sqlstore.Config{Dialect: a.dialect}); err != nil {
		return fail(err)
	}
	if err := a.store.Migrate(ctx); err != nil {
		return fail(fmt.Errorf("migrating %s: %w", a.dbName, err))
	}
	a.users = &users{dialect: a.dialect}
	if err := a.users.migrate(ctx, db); err != nil {
		return fail(fmt.Errorf("creating the users table in %s: %w", a.dbName, err))
	}
	return nil
}

// close closes the database.
func (a *app) close() error { return a.db.Close() }

// runBackground starts the dispatcher and the expiry sweep; the channel
// closes once both have stopped, after ctx ends.
func (a *app) runBackground(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	d, err := a.m.NewDispatcher(invite.DispatcherConfig{})
	var wg sync.WaitGroup
	if err != nil {
		a.log.Error("no dispatcher", "error", err) // cannot happen with sqlstore
	} else {
		wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				a.log.Error("dispatcher", "error", err)
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(a.cfg.sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := a.m.ExpireDue(ctx, 1000); err != nil && ctx.Err() == nil {
				a.log.Warn("expiry sweep", "error", err)
			}
		}
	})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// logEvents is the event sink: a line per event in the terminal. A real
// application forwards them to a queue or webhooks (package invitehook).
func (a *app) logEvents(ctx context.Context, events []invite.Event) error {
	for _, e := range events {
		a.log.InfoContext(ctx, "event", "type", e.Type, "tenant_id", e.TenantID, "invitation_id", e.InvitationID,
			"version", e.Version, "actor", e.Actor.Kind, "actor_id", e.Actor.ID)
	}
	return nil
}

// demoAdmin is who the admin token acts as.
var demoAdmin = invite.Actor{Kind: invite.ActorAdmin, ID: "demo-admin"}

// authorize is the API's Authorize hook. DEMO ONLY: one fixed bearer
// token may act in every tenant. A real application checks its own
// session and that the user administers that tenant.
func (a *app) authorize(r *http.Request, tenant string, action invitehttp.Action) error {
	if action.Public() {
		return nil // the token is the capability; rate limit these in production
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return invitehttp.ErrUnauthenticated
	}
	if subtle.ConstantTimeCompare([]byte(auth), []byte(a.cfg.adminToken)) != 1 {
		return invitehttp.ErrForbidden
	}
	return nil
}

// beforeCreate names the demo admin as the inviter when the request names
// none.
func beforeCreate(r *http.Request, in *invite.CreateInput) error {
	if in.Inviter.ID == "" {
		in.Inviter.ID = demoAdmin.ID
	}
	if in.Inviter.Name == "" {
		in.Inviter.Name = "The demo admin"
	}
	return nil
}

// handler routes the application's requests.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	// The API: admin requests are attributed to the demo admin in events.
	api := http.StripPrefix("/api", a.api)
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			r = r.WithContext(invite.WithActor(r.Context(), demoAdmin))
		}
		api.ServeHTTP(w, r)
	}))
	a.pages.routes(mux)
	return mux
}

// printStart logs where everything is.
func (a *app) printStart(addr string) {
	a.log.Info("listening", "addr", addr, "open", a.cfg.baseURL+"/")
	a.log.Info("storage", "database", a.dbName, "mail", a.cfg.mailDir)
	if a.cfg.adminToken == defaultAdminToken {
		a.log.Warn("DEMO ONLY: the admin API takes the public default token; set -admin-token before exposing it",
			"admin_token", defaultAdminToken)
	}
}

// randomKey returns n random bytes.
func randomKey(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}
