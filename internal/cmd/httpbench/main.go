// Command httpbench measures what the HTTP adapter (package invitehttp)
// costs: Create, Lookup and Accept served over HTTP on loopback ("http"),
// against the same operations called on the Manager directly ("direct"),
// in one run, on the same store, pool and Manager, with the same
// concurrency. The adapter's overhead is the ratio http/direct; the target
// is that it keeps at least 0.8x of direct throughput.
//
// Run it from the module root:
//
//	go run ./internal/cmd/httpbench                    # SQLite in a temp file, 4 connections
//	source .ci/services.sh                             # PostgreSQL, exports INVITE_POSTGRES_DSN
//	go run ./internal/cmd/httpbench -store postgres    # 16 connections
//	go run ./internal/cmd/httpbench -store postgres -rounds 7 -duration 3s -json
//
// Method. One process holds everything: sqlstore on SQLite (a file in a
// temporary directory, WAL, removed at the end) or PostgreSQL (tables under
// a fresh random prefix, dropped at the end unless -keep), one
// invite.Manager on it (writing its events to the outbox, through a no-op
// EventSink, as invitebench's does), the invitehttp handler over that
// Manager, served by a net/http server on a 127.0.0.1 listener, and a
// keep-alive client whose transport keeps an idle connection for every
// worker (so that no request dials). The handler's hooks are what a host
// would have: Authorize compares the admin's bearer token, Subject reads
// the signed-in user from a header, Retryable is sqlstore.IsRetryable.
//
// The operations, the same on both sides:
//
//	create  POST /tenants/{t}/invitations {invitee, names, inviter, roles, groups, data, "delivery": "return"}, 201
//	        direct: Manager.Create with the same input
//	lookup  GET /public/invitations/{token}, 200; direct: Manager.Lookup
//	accept  POST /public/invitations/{token}/accept {}, 200; direct: Manager.Accept
//
// Every HTTP response's status is checked and its body read to the end;
// every direct call's error is checked. -preload invitations are created
// first, unmeasured, through the Manager inside transactions of 500
// (sqlstore's WithTx), and lookup reads random ones of them. Each accept
// window consumes fresh invitations created the same way before it,
// unmeasured, 1.5 times as many as the highest accept rate seen so far
// would take (a window that runs out ends early; its rate is still
// ops/elapsed).
//
// Per operation (lookup, accept, create, in that order, so that lookup sees
// the preloaded table), each side gets a warm-up window, then -rounds
// measured windows of -duration (or -ops operations) alternate: http
// direct, direct http, ... so that the machine's noise hits both. -c
// workers (default: the pool size, -conns) run the operation in a loop;
// each call is timed. A window's throughput is ops/elapsed and its p50 and
// p99 come from its sorted timings. The report gives, per operation and
// side, the median of the windows' throughput, p50 and p99, the ratio
// http/direct of the median throughputs with the range of the per-round
// ratios, and a PASS/FAIL line per operation for the 0.8x target. The load
// generator runs in the same process, on the same cores, as the server, so
// its own cost (building requests, reading responses) counts against the
// http side: the ratio is a bound on the adapter's overhead, not its
// exact measure. -v prints every window and the CPU time the process
// used per operation on each side (the median of its windows).
//
// -bare adds a third side, alternated with the other two: a minimal
// hand-written net/http handler (bare.go) making the same Manager calls
// and writing the same JSON, without the adapter's strict decoding,
// problem details or hooks. bare/direct is then what HTTP itself costs on
// this machine (server, loopback and client), http/bare what the adapter
// adds to it; the report prints both, and a PASS/FAIL line per operation
// for http/bare of at least 0.85.
//
// -floor adds another side: a handler (floor.go) that answers the same
// requests with the adapter's own answers, recorded once before the
// windows, and does nothing else: what one HTTP exchange of those bytes
// costs on this machine (server, loopback and client), with no work
// behind it. The report prints its throughput and CPU time per exchange
// next to the direct call's CPU time per operation (this process's only:
// a database server's is not counted). Where the exchange alone costs as
// much CPU as the operation, HTTP on the same cores cannot come near
// direct throughput, whatever the handler.
//
// Flags: -store (sqlite, postgres), -dsn (default: a temp file, or
// $INVITE_POSTGRES_DSN), -conns, -c, -preload, -duration or -ops,
// -warmup, -rounds, -measure (a subset of lookup,accept,create),
// -tenants, -bare, -floor, -keep, -json (the report as JSON, durations in
// microseconds), -v, -cpuprofile (of the whole run; each window's
// samples, the server's included, carry the labels op and side: go tool
// pprof -tagfocus side=http). The exit status is 0 whatever the verdicts
// (1 on an error, 2 on bad flags).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/invitekit/invite/internal/benchwin"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

type config struct {
	store    string
	dsn      string
	conns    int
	workers  int
	preload  int
	duration time.Duration
	warmup   time.Duration
	ops      int
	rounds   int
	measure  []string
	tenants  int
	keep     bool
	jsonOut  bool
	verbose  bool
	cpuprof  string
	bare     bool
	floor    bool
}

// allOps are the operations, in the order they are measured.
var allOps = []string{"lookup", "accept", "create"}

// target is the least http/direct throughput ratio that passes; with
// -bare, bareTarget the least http/bare ratio: the adapter's own cost
// next to a minimal handler.
const (
	target     = 0.8
	bareTarget = 0.85
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "httpbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b, err := setup(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "httpbench:", err)
		return 1
	}
	defer b.close()
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err != nil {
			fmt.Fprintln(stderr, "httpbench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "httpbench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := b.runAll(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "httpbench:", err)
		return 1
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep.toJSON()); err != nil {
			fmt.Fprintln(stderr, "httpbench:", err)
			return 1
		}
	} else {
		rep.print(stdout, cfg.verbose)
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.store, "store", "sqlite", "sqlite or postgres")
	fs.StringVar(&cfg.dsn, "dsn", "", "database DSN (default: a temp file for sqlite, $INVITE_POSTGRES_DSN)")
	fs.IntVar(&cfg.conns, "conns", 0, "database pool size (default 16 for postgres, 4 for sqlite)")
	fs.IntVar(&cfg.workers, "c", 0, "concurrent workers, each side (default: -conns)")
	fs.IntVar(&cfg.preload, "preload", 10000, "invitations stored before measuring (lookup reads them)")
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "length of each measured window")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "length of each side's warm-up window (default duration/4, at most 1s)")
	fs.IntVar(&cfg.ops, "ops", 0, "operations per window instead of -duration")
	fs.IntVar(&cfg.rounds, "rounds", 5, "measured windows per side and operation")
	measure := fs.String("measure", strings.Join(allOps, ","), "operations to measure: "+strings.Join(allOps, ","))
	fs.IntVar(&cfg.tenants, "tenants", 100, "tenants the invitations are spread over")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the tables (and the SQLite file) at the end")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.verbose, "v", false, "print every window and the CPU time per operation")
	fs.BoolVar(&cfg.bare, "bare", false, "also measure a minimal hand-written net/http handler (side bare)")
	fs.BoolVar(&cfg.floor, "floor", false, "also measure a handler replaying recorded answers (side floor): HTTP's own cost")
	fs.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of the measured windows to this file (labels op and side)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch cfg.store {
	case "sqlite":
	case "postgres":
		if cfg.dsn == "" {
			cfg.dsn = os.Getenv("INVITE_POSTGRES_DSN")
		}
		if cfg.dsn == "" {
			return cfg, fmt.Errorf("-store postgres needs -dsn or $INVITE_POSTGRES_DSN (source .ci/services.sh)")
		}
	default:
		return cfg, fmt.Errorf("-store must be sqlite or postgres")
	}
	if cfg.conns == 0 {
		cfg.conns = 16
		if cfg.store == "sqlite" {
			cfg.conns = 4
		}
	}
	if cfg.workers == 0 {
		cfg.workers = cfg.conns
	}
	if cfg.warmup == 0 {
		cfg.warmup = min(cfg.duration/4, time.Second)
	}
	if cfg.conns < 1 || cfg.workers < 1 || cfg.rounds < 1 || cfg.preload < 1 || cfg.tenants < 1 || cfg.duration <= 0 || cfg.ops < 0 || cfg.warmup < 0 {
		return cfg, fmt.Errorf("-conns, -c, -rounds, -preload, -tenants and -duration must be positive")
	}
	// In the fixed order: lookup first sees exactly the preloaded table.
	ops, err := benchwin.ParseOps(*measure, allOps)
	if err != nil {
		return cfg, fmt.Errorf("-measure: %w", err)
	}
	cfg.measure = ops
	return cfg, nil
}

// sqliteDSN is the DSN of a SQLite file as invitebench (and the README)
// open it.
func sqliteDSN(dir string) string {
	return "file:" + filepath.Join(dir, "invite.db") +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// openDB opens the database of cfg; tmp is the temporary directory of a
// SQLite file made for the run ("" otherwise).
func openDB(cfg *config) (db *sql.DB, tmp string, err error) {
	driver := "pgx"
	if cfg.store == "sqlite" {
		driver = "sqlite"
		if cfg.dsn == "" {
			if tmp, err = os.MkdirTemp("", "httpbench-"); err != nil {
				return nil, "", err
			}
			cfg.dsn = sqliteDSN(tmp)
		}
	}
	db, err = sql.Open(driver, cfg.dsn)
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, "", err
	}
	db.SetMaxOpenConns(cfg.conns)
	db.SetMaxIdleConns(cfg.conns)
	return db, tmp, nil
}
