// Command invitebench measures invite.Manager's Create, Lookup and Accept on
// sqlstore against a hand-written baseline ("raw") that writes the same rows
// with the same driver, in one run, on the same database and pool.
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
// Manager.Lookup). Then, per operation (lookup, accept, create, in that
// order, so that Lookup sees the preloaded table size), each side gets a
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
// PASS/FAIL lines report the targets:
// PostgreSQL (at 16 connections) Create and Accept throughput >= 0.9x raw,
// SQLite >= 0.8x raw, and p50 at the largest preload <= 1.3x the smallest.
//
// Other flags (see -h): -dsn, -conns, -preload, -duration or -ops, -rounds,
// -measure (a subset of lookup,accept,create), -prefix, -keep, -json, -v
// (every window, and the CPU time this process used per operation, the Go
// side of the cost, as the median of each side's windows; -json has it
// too), -cpuprofile (of the whole run: compare the trees under
// invite.(*Manager).Create and main.(*rawClient).create, for instance).
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
	for f := range strings.SplitSeq(*measure, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allOps, f) {
			return cfg, fmt.Errorf("-measure: %q is not one of %v", f, allOps)
		}
		cfg.measure = append(cfg.measure, f)
	}
	// Keep the fixed order: lookup first sees exactly the preloaded table.
	cfg.measure = slices.DeleteFunc(slices.Clone(allOps), func(op string) bool { return !slices.Contains(cfg.measure, op) })
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
	m, err := invite.New(store, invite.Config{})
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
			for _, t := range []string{b.t.invitations, b.t.tokens, b.t.outbox, b.t.migrations} {
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
	return b.check(ctx, toks)
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

// opFunc returns the operation's function for s, and, for Accept, the
// function that prepares a window of about the given length.
func (b *bench) opFunc(op string, s side) (opFunc, func(ctx context.Context, d time.Duration, ops int) error) {
	switch op {
	case "create":
		return func(ctx context.Context, _ *randT) error {
			seq := b.seq.Add(1)
			tenant, email := b.tenant(s, seq), b.email("u", seq)
			var err error
			if s == lib {
				_, err = b.m.Create(ctx, createInput(tenant, email))
			} else {
				_, err = b.raw.create(ctx, tenant, email)
			}
			if err == nil {
				b.rows.Add(1)
			}
			return err
		}, nil
	case "lookup":
		return func(ctx context.Context, rng *randT) error {
			tok := b.tokens[rng.IntN(len(b.tokens))]
			if s == lib {
				_, err := b.m.Lookup(ctx, tok)
				return err
			}
			_, err := b.raw.find(ctx, tok)
			return err
		}, nil
	}
	// accept
	var (
		pool []string
		next atomic.Int64
	)
	prepare := func(ctx context.Context, d time.Duration, ops int) error {
		n := ops
		if n == 0 {
			// Enough for the estimated rate, with a margin; a window
			// that runs out ends early.
			n = int(b.acceptRate[s]*1.5*d.Seconds()) + 100
		}
		toks, err := b.bulkInsert(ctx, n, "a", func(seq int64) string { return b.tenant(s, seq) })
		if err != nil {
			return fmt.Errorf("accept pool: %w", err)
		}
		pool = toks
		next.Store(0)
		return nil
	}
	in := invite.AcceptInput{Subject: "subject-1"}
	return func(ctx context.Context, _ *randT) error {
		i := next.Add(1) - 1
		if i >= int64(len(pool)) {
			return errPoolEmpty
		}
		if s == lib {
			_, err := b.m.Accept(ctx, pool[i], in)
			return err
		}
		return b.raw.accept(ctx, pool[i], in.Subject)
	}, prepare
}

func (b *bench) measureOp(ctx context.Context, op string) (opResult, error) {
	if op == "deliver" {
		return b.measureDeliver(ctx)
	}
	res := opResult{Op: op, RowsAtStart: b.rows.Load()}
	var fns [2]opFunc
	var preps [2]func(context.Context, time.Duration, int) error
	for _, s := range []side{lib, raw} {
		if op == "create-send" {
			var err error
			if fns[s], err = b.createSendFunc(s); err != nil {
				return res, err
			}
		} else {
			fns[s], preps[s] = b.opFunc(op, s)
		}
		if b.acceptRate[s] == 0 {
			b.acceptRate[s] = 1000
		}
	}
	run := func(s side, d time.Duration, ops int) (window, error) {
		if preps[s] != nil {
			if err := preps[s](ctx, d, ops); err != nil {
				return window{}, err
			}
		}
		w, err := runWindow(ctx, b.cfg.conns, ops, d, fns[s])
		if err != nil {
			return w, fmt.Errorf("%s: %w", s, err)
		}
		w.Side = s
		if op == "accept" {
			b.acceptRate[s] = w.OpsPerSec
		}
		return w, nil
	}
	for _, s := range []side{lib, raw} {
		warmOps := 0
		if b.cfg.ops > 0 {
			warmOps = max(b.cfg.ops/10, 50)
		}
		w, err := run(s, b.cfg.warmup, warmOps)
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		b.logf("%-6s %s warm-up: %.0f ops/s p50 %s", op, s, w.OpsPerSec, fmtDur(w.P50))
	}
	var pairs []float64
	for r := range b.cfg.rounds {
		order := []side{lib, raw}
		if r%2 == 1 {
			order = []side{raw, lib}
		}
		var thr [2]float64
		for _, s := range order {
			w, err := run(s, b.cfg.duration, b.cfg.ops)
			if err != nil {
				return res, err
			}
			w.Round = r + 1
			thr[s] = w.OpsPerSec
			res.Windows = append(res.Windows, w)
			ex := ""
			if w.Exhausted {
				ex = " (pool ran out)"
			}
			b.logf("%-6s %s round %d: %d ops in %s, %.0f ops/s, p50 %s, p99 %s, client CPU %s/op%s", op, s, r+1, w.Ops,
				w.Elapsed.Round(time.Millisecond), w.OpsPerSec, fmtDur(w.P50), fmtDur(w.P99), fmtUs(w.ClientCPU), ex)
		}
		pairs = append(pairs, thr[lib]/thr[raw])
	}
	var ws [2][]window
	for _, w := range res.Windows {
		ws[w.Side] = append(ws[w.Side], w)
	}
	res.Lib, res.Raw = summarize(ws[lib]), summarize(ws[raw])
	res.ThrRatio = res.Lib.OpsPerSec / res.Raw.OpsPerSec
	res.P50Ratio = float64(res.Lib.P50) / float64(res.Raw.P50)
	res.PairMin, res.PairMax = slices.Min(pairs), slices.Max(pairs)
	return res, nil
}

// rowCheck compares what the two sides wrote: per side, kind of row
// (created in a Create window, or bulk-inserted) and state, the number of
// invitations and their average document size and NULL-ness of the
// columns; per side and event type, the outbox rows and their payload size.
func (b *bench) rowCheck(ctx context.Context) ([]string, error) {
	docLen, payloadLen := "length(doc)", "length(payload)"
	if b.d == sqlstore.Postgres {
		docLen, payloadLen = "octet_length(doc::text)", "octet_length(payload::text)"
	}
	side := "substr(tenant_id, 1, 3)"
	if b.d == sqlstore.MySQL {
		side = "CAST(substr(tenant_id, 1, 3) AS CHAR)"
	}
	kind := "CASE WHEN email_key LIKE 'u%' THEN 'create' WHEN email_key LIKE 's%' THEN 'send' WHEN email_key LIKE 'q%' THEN 'queued' ELSE 'bulk' END"
	q := "SELECT " + side + ", " + kind + ", state, count(*), avg(" + docLen + "), count(email_key), count(inviter_id), count(token_hash)," +
		" count(phone_key) + count(user_key) + count(idempotency_key) + count(prev_tokens) + count(code_hash), count(closed_at), sum(code_failures), sum(version)" +
		" FROM " + b.t.invitations + " GROUP BY 1, 2, 3 ORDER BY 2, 3, 1"
	var out []string
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	out = append(out, "side  kind    state     rows      avg doc  email  inviter  token  other  closed_at  code_failures  sum(version)")
	for rows.Next() {
		var sd, k, st string
		var n, e, inv, tok, other, closed, fails, ver int64
		var avg float64
		if err := rows.Scan(&sd, &k, &st, &n, &avg, &e, &inv, &tok, &other, &closed, &fails, &ver); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, fmt.Sprintf("%-5s %-7s %-9s %-9d %-8.1f %-6d %-8d %-6d %-6d %-10d %-14d %d", sd, k, st, n, avg, e, inv, tok, other, closed, fails, ver))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q = "SELECT " + side + ", type, count(*), avg(" + payloadLen + ") FROM " + b.t.outbox + " GROUP BY 1, 2 ORDER BY 2, 1"
	rows, err = b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out = append(out, "side  outbox type             rows      avg payload")
	for rows.Next() {
		var sd, typ string
		var n int64
		var avg float64
		if err := rows.Scan(&sd, &typ, &n, &avg); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%-5s %-24s %-9d %.1f", sd, typ, n, avg))
	}
	q = "SELECT count(*) FROM " + b.t.tokens
	var toks int64
	if err := b.db.QueryRowContext(ctx, q).Scan(&toks); err != nil {
		return out, err
	}
	out = append(out, fmt.Sprintf("token rows: %d (invitations stored by this run: %d)", toks, b.rows.Load()))
	return out, rows.Err()
}

// ---------------------------------------------------------------- output
