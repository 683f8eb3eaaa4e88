// Command server is a small web application built on the invite library:
// the HTTP API of package invitehttp for administrators, and the HTML pages
// an invitee sees when they follow the link of their invitation. One
// command starts it, with nothing to install:
//
//	go run ./examples/server
//
// It listens on 127.0.0.1:8080, keeps its data in an SQLite file
// (modernc.org/sqlite, pure Go) and "sends" every message through the
// development notifier (package invitedev): each message, link included,
// is logged in the terminal and written as an .eml file. Open
// http://127.0.0.1:8080/ for how to create an invitation; the command
// printed there (or in the README) sends one, and its link opens the
// invitation page.
//
// # Flags
//
// Every flag can also be set by the environment variable named after it.
//
//	-addr         INVITE_ADDR         where to listen (default 127.0.0.1:8080)
//	-base-url     INVITE_BASE_URL     the URL the links point to (default http:// and -addr)
//	-data         INVITE_DATA         folder of the SQLite file and the .eml files
//	                                  (default: invite-example-server in the
//	                                  temporary directory, kept between runs)
//	-db           INVITE_DB           the database: an SQLite file path (default
//	                                  <data>/invite.db) or a PostgreSQL URL
//	                                  (postgres://user:password@host:5432/db?sslmode=disable)
//	-mail-dir     INVITE_MAIL_DIR     where the .eml files go (default <data>/mail)
//	-admin-token  INVITE_ADMIN_TOKEN  the bearer token of the admin API
//	                                  (default "demo-admin-token")
//
// # What it shows
//
//   - The API of package invitehttp under /api/ (POST
//     /api/tenants/{tenant}/invitations creates an invitation; go doc
//     ./invitehttp has every route). The admin routes need the header
//     "Authorization: Bearer <admin token>".
//   - GET /invite/{token}, the page the link opens: who invited whom to
//     what, the roles and groups it grants, and the registration form,
//     pre-filled from the invitation (names, email, its custom fields, one
//     section per form of its form data). The email is read-only when the
//     invitation can only be accepted with it. Accept and decline are
//     plain form POSTs (no JavaScript anywhere), guarded against cross-site
//     requests by net/http's CrossOriginProtection. An expired, withdrawn,
//     used, declined or unknown link gets a page saying so.
//   - Accepting creates the user in the application's own table
//     (example_users) in the same database transaction as the acceptance
//     (sqlstore's WithTx with Manager.WithStore): both commit, or neither.
//     The browser then lands on a welcome page with the granted roles.
//   - The pages are in English, German and Arabic, chosen by the
//     invitation's locale (Arabic right to left); pages without an
//     invitation follow the browser's Accept-Language.
//   - A dispatcher (Manager.NewDispatcher) delivers what the writes queued:
//     the events (logged to the terminal) and any message the first attempt
//     did not deliver. A sweep marks expired invitations every minute.
//
// # DEMO ONLY
//
// The admin "authentication" is one fixed bearer token that may act in
// every tenant, and the default token is public; with the default token the
// server refuses to listen on anything but a loopback address. The
// development notifier writes every invitation's secret link to the terminal
// and to disk. The invitee's session is a signed cookie with a key that
// lives as long as the process. There is no rate limiting (see
// invitehttp.Config.RateLimit). A real application replaces all of that
// with its own sign-in, mail delivery and limits.
//
// # PostgreSQL, SMTP
//
// -db postgres://... (or INVITE_DB) keeps everything in PostgreSQL instead:
// the library's tables prefixed invite_ and the application's
// example_users, created at start if missing. -smtp smtp://user:pass@host:587
// (or INVITE_SMTP; ?tls=starttls, the default, opportunistic, implicit or
// none, the last for a loopback server only) sends the messages over SMTP,
// rendered from the default templates, from -smtp-from, instead of the
// development notifier.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// defaultAdminToken is the admin token when none is set: public, so the
// server then listens only on loopback.
const defaultAdminToken = "demo-admin-token"

func main() {
	cfg, err := parseFlags(flag.CommandLine, os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.logger = logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := listenAndServe(ctx, cfg); err != nil {
		logger.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

// config is what the flags set, plus what tests replace.
type config struct {
	addr       string
	baseURL    string
	dataDir    string
	db         string
	mailDir    string
	adminToken string
	// smtp and smtpFrom switch delivery to SMTP (smtp.go).
	smtp, smtpFrom string

	logger *slog.Logger
	// now is the clock of the Manager. Default: time.Now.
	now func() time.Time
	// sent, when set, receives each message the development notifier has
	// written (tests follow the links with it).
	sent func(msg sentMessage)
	// sweepEvery is the period of the expiry sweep. Default: a minute.
	sweepEvery time.Duration
}

// parseFlags reads the flags of args, with defaults from the environment
// (getenv).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var cfg config
	fs.StringVar(&cfg.addr, "addr", env("INVITE_ADDR", "127.0.0.1:8080"), "`host:port` to listen on (INVITE_ADDR)")
	fs.StringVar(&cfg.baseURL, "base-url", env("INVITE_BASE_URL", ""), "the `URL` invitation links start with (INVITE_BASE_URL; default http:// and -addr)")
	fs.StringVar(&cfg.dataDir, "data", env("INVITE_DATA", filepath.Join(os.TempDir(), "invite-example-server")), "`folder` of the SQLite file and the .eml files (INVITE_DATA)")
	fs.StringVar(&cfg.db, "db", env("INVITE_DB", ""), "the database: an SQLite file `path` or a postgres:// URL (INVITE_DB; default <data>/invite.db)")
	fs.StringVar(&cfg.mailDir, "mail-dir", env("INVITE_MAIL_DIR", ""), "`folder` for the .eml files (INVITE_MAIL_DIR; default <data>/mail)")
	fs.StringVar(&cfg.smtp, "smtp", env("INVITE_SMTP", ""), "send mail over SMTP: smtp://[user[:password]@]host[:port][?tls=starttls|opportunistic|implicit|none] (INVITE_SMTP; default: the development notifier)")
	fs.StringVar(&cfg.smtpFrom, "smtp-from", env("INVITE_SMTP_FROM", "Invitations <invites@localhost>"), "the `sender` of mail over SMTP (INVITE_SMTP_FROM)")
	fs.StringVar(&cfg.adminToken, "admin-token", env("INVITE_ADMIN_TOKEN", defaultAdminToken), "bearer `token` of the admin API, DEMO ONLY (INVITE_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.baseURL == "" {
		host, port, err := net.SplitHostPort(cfg.addr)
		if err != nil {
			return cfg, fmt.Errorf("-addr %q: %w", cfg.addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		cfg.baseURL = "http://" + net.JoinHostPort(host, port)
	}
	cfg.baseURL = strings.TrimSuffix(cfg.baseURL, "/")
	if cfg.db == "" {
		cfg.db = filepath.Join(cfg.dataDir, "invite.db")
	}
	if cfg.mailDir == "" {
		cfg.mailDir = filepath.Join(cfg.dataDir, "mail")
	}
	if cfg.adminToken == defaultAdminToken && !loopback(cfg.addr) {
		return cfg, fmt.Errorf("-addr %s is not a loopback address: set -admin-token (the default one is public)", cfg.addr)
	}
	return cfg, nil
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenAndServe listens on cfg.addr and serves until ctx ends.
func listenAndServe(ctx context.Context, cfg config) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, ln)
}

// serve opens the application of cfg and serves it on ln until ctx ends;
// then it stops taking requests, lets those under way finish (up to 10
// s), stops the dispatcher and the sweep, and closes the database.
func serve(ctx context.Context, cfg config, ln net.Listener) (err error) {
	a, err := openApp(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	done := a.runBackground(bg)
	defer func() {
		stopBG()
		<-done
	}()

	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.printStart(ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if e := <-served; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
