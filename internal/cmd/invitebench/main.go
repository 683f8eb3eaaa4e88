// Command invitebench measures invite.Manager's Create, Lookup and Accept on
// sqlstore against a hand-written baseline ("raw") that writes the same rows
// with the same driver, in one run, on the same database and pool; and,
// with -measure create-send,deliver, durable delivery (see below).
//
// Run it from the module root:
//
//	go run ./internal/cmd/invitebench                    # SQLite in a temp file, 4 connections
//	source .ci/services.sh                               # PostgreSQL and MariaDB, exports the DSNs
//	go run ./internal/cmd/invitebench -store postgres    # 16 connections, 10,000 preloaded
//	go run ./internal/cmd/invitebench -store postgres -compare-preload 10000,1000000
//	go run ./internal/cmd/invitebench -store mysql -json
//
// Method. The tables are the library's own (migrated by sqlstore, under a
// fresh random prefix, dropped at the end unless -keep); the library works
// in tenants lib-NNN and the baseline in tenants raw-NNN of the same tables.
// -preload invitations are stored first through a bulk path (multi-row
// INSERTs of exactly the rows the library writes, checked by
// Manager.Lookup), and the tables analyzed. Then, per operation (lookup,
// accept, create, in that order, so that Lookup sees the preloaded table
// size), each side gets a
// warm-up window and -rounds measured windows of -duration (or -ops
// operations), alternating L R, R L, L R ... so that machine noise hits
// both; -conns workers share a pool of -conns connections. Lookup reads
// random preloaded tokens; each Accept consumes a fresh invitation
// bulk-inserted, unmeasured, before its window (a window that runs out
// ends early; its rate is ops/elapsed). Each window's throughput is
// ops/elapsed and its p50 and p99 come from the sorted per-operation
// timings; the table prints the median of the windows and the ratios
// library/raw of the medians (throughput and p50), with the range of the
// per-round throughput ratios. The baseline is described on rawClient.
//
// -compare-preload 10000,1000000 measures at each size in turn (topping up
// the same tables) and compares the library's Lookup and Accept p50 at the
// largest size with the smallest (1,000,000 preload in about 80 s on
// PostgreSQL). With many connections on few cores p50 is mostly time spent
// queueing for a CPU; -conns 1 measures the latency of the operation itself:
//
//	go run ./internal/cmd/invitebench -store postgres -conns 1 -measure lookup,accept -compare-preload 10000,1000000
//
// Durable delivery (deliver.go, rawdeliver.go) is measured on request:
//
//	go run ./internal/cmd/invitebench -store postgres -measure create-send,deliver -rounds 5
//	go run ./internal/cmd/invitebench -store mysql -measure deliver -rounds 5 -deliver-n 3000
//	go run ./internal/cmd/invitebench -measure deliver -rounds 5   # SQLite
//
// create-send times Create with DeliverySend and a no-op notifier, in
// windows like create's: "lib" on sqlstore (an invite.Outbox: the message
// is queued with the insert and settled by the write that marks the
// invitation sent), "raw" on the same store behind a type that hides its
// Outbox, today's inline path (no outbox row). deliver times
// Dispatcher.Drain ("lib") and a hand-written claim/ack loop ("raw",
// described on rawDispatcher) draining -deliver-n queued messages each
// (stored, unmeasured, before each window through the store's Apply, due
// at once), with the Dispatcher's defaults on both sides: claims of 100,
// 16 deliveries at once, on the -conns pool; its figures are records/s,
// and each window checks that every message was delivered and its
// invitation marked sent.
//
// PASS/FAIL lines report the targets:
// PostgreSQL (at 16 connections) Create and Accept throughput >= 0.9x raw,
// SQLite >= 0.8x raw, and p50 at the largest preload <= 1.3x the smallest;
// deliver >= 0.8x raw on every database. create-send's ratio is reported
// without a target (see deliveryTargets).
//
// Other flags (see -h): -dsn, -conns, -preload, -duration or -ops, -rounds,
// -measure (a subset of lookup,accept,create,create-send,deliver; default
// the first three), -deliver-n, -prefix, -keep, -json, -v
// (every window, and the CPU time this process used per operation, the Go
// side of the cost, as the median of each side's windows; -json has it
// too), -cpuprofile (of the whole run; each window's samples carry the
// labels op and side: go tool pprof -tagfocus side=lib -tagfocus
// op=deliver, or compare the trees under invite.(*Manager).Create and
// main.(*rawClient).create).
// go test -bench . ./internal/cmd/invitebench runs each operation of both
// sides one at a time on one connection, with allocations and CPU time per
// operation (SQLite, and PostgreSQL and MySQL when their DSNs are set).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
	"github.com/invitekit/invite/sqlstore"
)

type config struct {
	store      string
	dsn        string
	conns      int
	preload    int
	compare    []int
	duration   time.Duration
	warmup     time.Duration
	ops        int
	rounds     int
	prefix     string
	keep       bool
	jsonOut    bool
	measure    []string
	tenants    int
	verbose    bool
	cpuprofile string
	deliverN   int
}

// allOps are the operations in the order they are measured; defaultOps
// those measured without -measure.
var (
	allOps     = []string{"lookup", "accept", "create", "create-send", "deliver"}
	defaultOps = allOps[:3]
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "invitebench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b, cleanup, err := setup(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invitebench:", err)
		return 1
	}
	defer cleanup()
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "invitebench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "invitebench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := b.runAll(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invitebench:", err)
		return 1
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep.toJSON()); err != nil {
			fmt.Fprintln(os.Stderr, "invitebench:", err)
			return 1
		}
	} else {
		rep.print(os.Stdout, cfg.verbose)
	}
	return 0
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("invitebench", flag.ContinueOnError)
	fs.StringVar(&cfg.store, "store", "sqlite", "sqlite, postgres or mysql")
	fs.StringVar(&cfg.dsn, "dsn", "", "database DSN (default: a temp file for sqlite, $INVITE_POSTGRES_DSN, $INVITE_MYSQL_DSN)")
	fs.IntVar(&cfg.conns, "conns", 0, "pool size and concurrent workers (default 16 for postgres/mysql, 4 for sqlite)")
	fs.IntVar(&cfg.preload, "preload", 10000, "invitations stored before measuring")
	compare := fs.String("compare-preload", "", "comma-separated preload sizes to measure in turn and compare (e.g. 10000,1000000)")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each measured window")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "length of each side's warm-up window (default duration/5, at most 1s)")
	fs.IntVar(&cfg.ops, "ops", 0, "operations per window instead of -duration")
	fs.IntVar(&cfg.rounds, "rounds", 3, "measured windows per side and operation")
	fs.StringVar(&cfg.prefix, "prefix", "", "table prefix (default: a fresh random one)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the tables (and the SQLite file) at the end")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	measure := fs.String("measure", strings.Join(defaultOps, ","), "operations to measure: "+strings.Join(allOps, ","))
	fs.IntVar(&cfg.deliverN, "deliver-n", 2000, "deliver: queued messages drained per window")
	fs.IntVar(&cfg.tenants, "tenants", 100, "tenants per side")
	fs.BoolVar(&cfg.verbose, "v", false, "print every window")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch cfg.store {
	case "sqlite", "postgres", "mysql":
	default:
		return cfg, fmt.Errorf("-store must be sqlite, postgres or mysql")
	}
	if cfg.conns == 0 {
		cfg.conns = 16
		if cfg.store == "sqlite" {
			cfg.conns = 4
		}
	}
	if cfg.dsn == "" {
		switch cfg.store {
		case "postgres":
			cfg.dsn = os.Getenv("INVITE_POSTGRES_DSN")
		case "mysql":
			cfg.dsn = os.Getenv("INVITE_MYSQL_DSN")
		}
		if cfg.store != "sqlite" && cfg.dsn == "" {
			return cfg, fmt.Errorf("-store %s needs -dsn or $INVITE_%s_DSN (source .ci/services.sh)", cfg.store, strings.ToUpper(cfg.store))
		}
	}
	if cfg.warmup == 0 {
		cfg.warmup = min(cfg.duration/5, time.Second)
	}
	if cfg.conns < 1 || cfg.rounds < 1 || cfg.preload < 1 || cfg.tenants < 1 || cfg.duration <= 0 || cfg.ops < 0 || cfg.deliverN < 1 {
		return cfg, fmt.Errorf("-conns, -rounds, -preload, -tenants, -duration and -deliver-n must be positive")
	}
	cfg.compare = []int{cfg.preload}
	if *compare != "" {
		cfg.compare = nil
		for f := range strings.SplitSeq(*compare, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return cfg, fmt.Errorf("-compare-preload: %q is not a positive count", f)
			}
			cfg.compare = append(cfg.compare, n)
		}
		slices.Sort(cfg.compare)
		cfg.compare = slices.Compact(cfg.compare)
	}
	// In the fixed order: lookup first sees exactly the preloaded table.
	ops, err := benchwin.ParseOps(*measure, allOps)
	if err != nil {
		return cfg, fmt.Errorf("-measure: %w", err)
	}
	cfg.measure = ops
	return cfg, nil
}

// bench is one run: the database, the library on it, the baseline.
type bench struct {
	cfg   config
	d     sqlstore.Dialect
	db    *sql.DB
	store *sqlstore.Store
	m     *invite.Manager
	t     tables
	raw   *rawClient
	// nonce makes this run's emails unique (-prefix may name old tables).
	nonce string
	// seq numbers every invitation of the run.
	seq atomic.Int64
	// rows counts the invitations stored in the tables by this run.
	rows atomic.Int64
	// preloaded is the number of preloaded invitations; tokens are theirs.
	preloaded int
	tokens    []string
	// acceptRate estimates each side's Accept rate, to size its pools.
	acceptRate [2]float64
	// dlv is the state of create-send and deliver, made on first use.
	dlv *delivery
	log io.Writer
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setup(ctx context.Context, cfg config) (*bench, func(), error) {
	var (
		d      sqlstore.Dialect
		driver string
		tmp    string
	)
	switch cfg.store {
	case "sqlite":
		d, driver = sqlstore.SQLite, "sqlite"
		if cfg.dsn == "" {
			var err error
			if tmp, err = os.MkdirTemp("", "invitebench-"); err != nil {
				return nil, nil, err
			}
			cfg.dsn = "file:" + filepath.Join(tmp, "invite.db") +
				"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		}
	case "postgres":
		d, driver = sqlstore.Postgres, "pgx"
	case "mysql":
		d, driver = sqlstore.MySQL, "mysql"
	}
	if cfg.prefix == "" {
		cfg.prefix = "ib" + randomHex(4) + "_"
	}
	db, err := sql.Open(driver, cfg.dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(cfg.conns)
	db.SetMaxIdleConns(cfg.conns)
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: d, TablePrefix: cfg.prefix})
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	// The event sink makes the library write its events, as the raw SQL
	// does (the outbox rows; nothing publishes them during the run).
	m, err := invite.New(store, invite.Config{EventSink: invite.EventSinkFunc(func(context.Context, []invite.Event) error { return nil })})
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	b := &bench{cfg: cfg, d: d, db: db, store: store, m: m, t: tableNames(cfg.prefix), nonce: randomHex(3), log: os.Stderr}
	b.raw = newRawClient(db, d, b.t)
	cleanup := func() {
		if cfg.keep {
			b.logf("kept tables %s* in %s", cfg.prefix, cfg.dsn)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			for _, t := range store.Tables() {
				if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
					b.logf("dropping %s: %v", t, err)
				}
			}
			cancel()
		}
		_ = db.Close()
		if tmp != "" && !cfg.keep {
			_ = os.RemoveAll(tmp)
		}
	}
	if err := db.PingContext(ctx); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("connecting to %s: %w", cfg.store, err)
	}
	if err := store.Migrate(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	return b, cleanup, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "invitebench: "+format+"\n", args...)
}

func (b *bench) tenant(s side, seq int64) string {
	return s.String() + "-" + fmt.Sprintf("%03d", seq%int64(b.cfg.tenants))
}

func (b *bench) email(tag string, seq int64) string {
	return tag + strconv.FormatInt(seq, 10) + "." + b.nonce + "@example.com"
}

// preloadTo tops the preloaded invitations up to n, half in each side's
// tenants, and checks a sample of the new ones through the library.
func (b *bench) preloadTo(ctx context.Context, n int) error {
	add := n - b.preloaded
	if add <= 0 {
		return nil
	}
	start := time.Now()
	toks, err := b.bulkInsert(ctx, add, "p", func(seq int64) string { return b.tenant(side(seq%2), seq/2) })
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	b.tokens = append(b.tokens, toks...)
	b.preloaded = n
	el := time.Since(start)
	b.logf("preloaded %d invitations (now %d) in %s, %.0f/s", add, n, el.Round(time.Millisecond), float64(add)/el.Seconds())
	if err := b.analyze(ctx); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	return b.check(ctx, toks)
}

// analyze gathers the planner's statistics of the tables, as the
// database's own maintenance (autovacuum, ANALYZE) soon would in a running
// system: without them, a statement planned while the tables were nearly
// empty may keep a plan for an empty table (on PostgreSQL, an index of
// the tenant alone rather than the primary key) through the windows.
func (b *bench) analyze(ctx context.Context) error {
	for _, t := range b.store.Tables() {
		q := "ANALYZE " + t
		if b.d == sqlstore.MySQL {
			q = "ANALYZE TABLE " + t
		}
		if _, err := b.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("analyzing %s: %w", t, err)
		}
	}
	return nil
}

// check looks up a sample of bulk-inserted tokens through the library: the
// rows must be ones it reads as open invitations.
func (b *bench) check(ctx context.Context, toks []string) error {
	for i := 0; i < len(toks); i += max(1, len(toks)/16) {
		inv, err := b.m.Lookup(ctx, toks[i])
		if err != nil {
			return fmt.Errorf("bulk-inserted invitation not readable by the library: %w", err)
		}
		if inv.State != invite.StatePending || inv.Version != 1 || len(inv.Roles) != 1 {
			return fmt.Errorf("bulk-inserted invitation %s reads back wrong: %+v", inv.ID, inv)
		}
	}
	return nil
}

// opResult is the outcome of one operation at one preload size.
type opResult struct {
	Op          string
	RowsAtStart int64
	Windows     []window
	Lib, Raw    summary
	// ThrRatio and P50Ratio are library/raw of the medians; PairMin and
	// PairMax bound the per-round throughput ratios.
	ThrRatio, P50Ratio, PairMin, PairMax float64
}

type sizeResult struct {
	Preload int
	Ops     []opResult
}

type report struct {
	cfg      config
	Sizes    []sizeResult
	RowCheck []string
}

func (b *bench) runAll(ctx context.Context) (*report, error) {
	rep := &report{cfg: b.cfg}
	b.logf("store=%s conns=%d prefix=%s sizes=%v ops=%v", b.cfg.store, b.cfg.conns, b.cfg.prefix, b.cfg.compare, b.cfg.measure)
	for _, size := range b.cfg.compare {
		if err := b.preloadTo(ctx, size); err != nil {
			return nil, err
		}
		sr := sizeResult{Preload: size}
		for _, op := range b.cfg.measure {
			r, err := b.measureOp(ctx, op)
			if err != nil {
				return nil, fmt.Errorf("%s at preload %d: %w", op, size, err)
			}
			sr.Ops = append(sr.Ops, r)
		}
		rep.Sizes = append(rep.Sizes, sr)
	}
	rc, err := b.rowCheck(ctx)
	if err != nil {
		b.logf("row check failed: %v", err)
	}
	rep.RowCheck = rc
	return rep, nil
}
