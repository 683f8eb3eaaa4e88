package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/sqlstore"
)

// The bench host's credentials: the admin's bearer token, and the header
// naming the signed-in user who accepts.
const (
	adminAuth   = "Bearer httpbench-admin"
	userHeader  = "X-User"
	subjectID   = "subject-1"
	preloadTx   = 500 // invitations created per transaction, unmeasured
	preloadPar  = 4   // transactions at once (1 on SQLite: one writer)
	tablePrefix = "hb"
)

// What every invitation is created with (invitebench's createInput).
var (
	benchInviter = invite.Inviter{ID: "admin-1", Name: "Grace Hopper"}
	benchRoles   = []string{"member"}
	benchGroups  = []string{"engineering"}
	benchData    = map[string]string{"team": "core", "plan": "pro"}
)

// createInput is the create of both sides (the HTTP body is its JSON,
// without the tenant, which is the path's).
func createInput(tenant, email string) invite.CreateInput {
	return invite.CreateInput{
		TenantID: tenant, Invitee: invite.Invitee{Email: email},
		GivenName: "Ada", FamilyName: "Lovelace", Inviter: benchInviter,
		Roles: benchRoles, Groups: benchGroups, Data: benchData,
		Delivery: invite.DeliveryReturn,
	}
}

// bench is one run: the store, the Manager, the handler on its listener,
// the client.
type bench struct {
	cfg    config
	db     *sql.DB
	tmp    string
	prefix string
	store  *sqlstore.Store
	m      *invite.Manager
	srv    *http.Server
	base   string // http://127.0.0.1:port
	client *http.Client
	// nonce makes this run's emails unique; seq numbers its invitations.
	nonce string
	seq   atomic.Int64
	// tokens are the preloaded invitations' secrets.
	tokens []string
	// sides are the sides measured: http and direct, and bare with -bare.
	sides []side
	// bareSrv and bareBase serve bareHandler with -bare; floorSrv and
	// floorBase serve floorHandler with -floor.
	bareSrv, floorSrv   *http.Server
	bareBase, floorBase string
	// record, when set, receives the next answer's status and body.
	record func(status int, body []byte)
	// acceptRate is the highest Accept rate seen, to size the pools.
	acceptRate float64
	log        io.Writer
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setup(ctx context.Context, cfg config, log io.Writer) (_ *bench, err error) {
	db, tmp, err := openDB(&cfg)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, db: db, tmp: tmp, prefix: tablePrefix + randomHex(4) + "_", nonce: randomHex(3), log: log,
		sides: []side{httpSide, direct}, acceptRate: 1000}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	d := sqlstore.Postgres
	if cfg.store == "sqlite" {
		d = sqlstore.SQLite
	}
	if b.store, err = sqlstore.New(db, sqlstore.Config{Dialect: d, TablePrefix: b.prefix}); err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.store, err)
	}
	if err := b.store.Migrate(ctx); err != nil {
		return nil, err
	}
	// The event sink makes the Manager write its events to the outbox
	// (nothing publishes them during the run), as a host's would.
	b.m, err = invite.New(b.store, invite.Config{EventSink: invite.EventSinkFunc(func(context.Context, []invite.Event) error { return nil })})
	if err != nil {
		return nil, err
	}
	api, err := invitehttp.New(invitehttp.Config{
		Manager: b.m,
		Authorize: func(r *http.Request, _ string, a invitehttp.Action) error {
			if a.Public() {
				return nil
			}
			if r.Header.Get("Authorization") != adminAuth {
				return invitehttp.ErrUnauthenticated
			}
			return nil
		},
		Subject: func(r *http.Request) (invitehttp.Subject, error) {
			id := r.Header.Get(userHeader)
			if id == "" {
				return invitehttp.Subject{}, invitehttp.ErrUnauthenticated
			}
			return invitehttp.Subject{ID: id}, nil
		},
		Retryable: sqlstore.IsRetryable,
	})
	if err != nil {
		return nil, err
	}
	if b.srv, b.base, err = serve(api, httpSide, cfg.cpuprof != ""); err != nil {
		return nil, err
	}
	if cfg.bare {
		b.sides = append(b.sides, bare)
		if b.bareSrv, b.bareBase, err = serve(bareHandler(b.m), bare, cfg.cpuprof != ""); err != nil {
			return nil, err
		}
	}
	// A keep-alive connection for every worker, never closed for lack of
	// room: no request of a window dials.
	b.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        8 * cfg.workers,
		MaxIdleConnsPerHost: 2 * cfg.workers,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}, Timeout: time.Minute}
	return b, nil
}

// close stops the server, drops the tables (unless -keep) and removes the
// SQLite file.
func (b *bench) close() {
	for _, srv := range []*http.Server{b.srv, b.bareSrv, b.floorSrv} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
	if b.cfg.keep {
		b.logf("kept tables %s* in %s", b.prefix, b.cfg.dsn)
	} else if b.tmp == "" && b.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, t := range b.store.Tables() {
			if _, err := b.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				b.logf("dropping %s: %v", t, err)
			}
		}
		cancel()
	}
	_ = b.db.Close()
	if b.tmp != "" && !b.cfg.keep {
		_ = os.RemoveAll(b.tmp)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "httpbench: "+format+"\n", args...)
}

func (b *bench) tenant(s side, seq int64) string {
	return s.String() + "-" + fmt.Sprintf("%03d", seq%int64(b.cfg.tenants))
}

func (b *bench) email(tag string, seq int64) string {
	return tag + strconv.FormatInt(seq, 10) + "." + b.nonce + "@example.com"
}

// prepare creates n open invitations through the Manager, unmeasured, in
// transactions of preloadTx (far faster than one write each, and exactly
// what Create writes), and returns their tokens. tag starts their emails.
func (b *bench) prepare(ctx context.Context, n int, tag string, s side) ([]string, error) {
	tokens := make([]string, n)
	chunks := (n + preloadTx - 1) / preloadTx
	par := min(preloadPar, chunks, b.cfg.conns)
	if b.cfg.store == "sqlite" {
		par = 1
	}
	err := benchwin.Chunks(ctx, chunks, par, func(ctx context.Context, c int) error {
		lo, hi := c*preloadTx, min(n, (c+1)*preloadTx)
		return b.createInTx(ctx, tokens[lo:hi], tag, s)
	})
	if err != nil {
		return nil, err
	}
	return tokens, nil
}

// createInTx creates len(tokens) invitations in one transaction.
func (b *bench) createInTx(ctx context.Context, tokens []string, tag string, s side) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	m := b.m.WithStore(b.store.WithTx(tx))
	for i := range tokens {
		seq := b.seq.Add(1)
		res, err := m.Create(ctx, createInput(b.tenant(s, seq), b.email(tag, seq)))
		if err != nil {
			return fmt.Errorf("preparing invitations: %w", err)
		}
		tokens[i] = res.Token.Reveal()
	}
	return tx.Commit()
}

// preload stores -preload invitations, half in each side's tenants, and
// checks one.
func (b *bench) preload(ctx context.Context) error {
	start := time.Now()
	half := b.cfg.preload / 2
	for _, part := range []struct {
		s side
		n int
	}{{httpSide, half}, {direct, b.cfg.preload - half}} {
		if part.n == 0 {
			continue
		}
		toks, err := b.prepare(ctx, part.n, "p", part.s)
		if err != nil {
			return fmt.Errorf("preload: %w", err)
		}
		b.tokens = append(b.tokens, toks...)
	}
	el := time.Since(start)
	b.logf("preloaded %d invitations in %s, %.0f/s", b.cfg.preload, el.Round(time.Millisecond), float64(b.cfg.preload)/el.Seconds())
	inv, err := b.m.Lookup(ctx, b.tokens[len(b.tokens)-1])
	if err != nil {
		return fmt.Errorf("preloaded invitation not readable: %w", err)
	}
	if inv.State != invite.StatePending {
		return fmt.Errorf("preloaded invitation %s is %s", inv.ID, inv.State)
	}
	return nil
}

// runAll preloads and measures every operation.
func (b *bench) runAll(ctx context.Context) (*report, error) {
	b.logf("store=%s conns=%d workers=%d prefix=%s server=%s ops=%v", b.cfg.store, b.cfg.conns, b.cfg.workers, b.prefix, b.base, b.cfg.measure)
	if err := b.preload(ctx); err != nil {
		return nil, err
	}
	if b.cfg.floor {
		answers, err := b.recordAnswers(ctx)
		if err != nil {
			return nil, err
		}
		if b.floorSrv, b.floorBase, err = serve(floorHandler(answers), floor, b.cfg.cpuprof != ""); err != nil {
			return nil, err
		}
		b.sides = append(b.sides, floor)
	}
	rep := &report{cfg: b.cfg}
	for _, op := range b.cfg.measure {
		r, err := b.measureOp(ctx, op)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		rep.Ops = append(rep.Ops, r)
	}
	return rep, nil
}

// errStatus is an HTTP answer other than the one expected.
type errStatus struct {
	op, body string
	code     int
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("%s answered %d: %.300s", e.op, e.code, e.body)
}

// do sends req and checks its status, reading the body to the end so that
// the connection is reused.
func (b *bench) do(req *http.Request, want int) error {
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &errStatus{op: req.Method + " " + req.URL.Path, code: resp.StatusCode, body: string(body)}
	}
	if b.record != nil {
		body, err := io.ReadAll(resp.Body)
		b.record(resp.StatusCode, body)
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// createBody is the JSON of createInput without its tenant, built from
// two constant halves around the email: the load generator's cost stays
// small next to the server's.
var createBodyHead, createBodyTail = func() (string, string) {
	in := createInput("", "EMAIL")
	j, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	head, tail, ok := strings.Cut(string(j), `"EMAIL"`)
	if !ok {
		panic("httpbench: the create body has no email")
	}
	return head + `"`, `"` + tail
}()

// opFunc returns the operation's function for side s, and, for accept,
// the function that prepares a window of about d (or ops operations).
func (b *bench) opFunc(op string, s side) (opFunc, func(ctx context.Context, d time.Duration, ops int) error) {
	base := map[side]string{httpSide: b.base, bare: b.bareBase, floor: b.floorBase}[s]
	switch op {
	case "create":
		return func(ctx context.Context, _ *randT) error {
			seq := b.seq.Add(1)
			tenant, email := b.tenant(s, seq), b.email("u", seq)
			if s == direct {
				_, err := b.m.Create(ctx, createInput(tenant, email))
				return err
			}
			body := createBodyHead + email + createBodyTail
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/tenants/"+tenant+"/invitations", strings.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", adminAuth)
			return b.do(req, http.StatusCreated)
		}, nil
	case "lookup":
		return func(ctx context.Context, rng *randT) error {
			tok := b.tokens[rng.IntN(len(b.tokens))]
			if s == direct {
				_, err := b.m.Lookup(ctx, tok)
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/public/invitations/"+tok, nil)
			if err != nil {
				return err
			}
			return b.do(req, http.StatusOK)
		}, nil
	}
	// accept
	var (
		pool []string
		next atomic.Int64
	)
	prepare := func(ctx context.Context, d time.Duration, ops int) error {
		if s == floor {
			pool = []string{b.tokens[0]} // the floor consumes nothing
			next.Store(0)
			return nil
		}
		n := ops
		if n == 0 {
			// Enough for the estimated rate, with a margin; a window
			// that runs out ends early.
			n = int(b.acceptRate*1.5*d.Seconds()) + 100
		}
		toks, err := b.prepare(ctx, n, "a", s)
		if err != nil {
			return fmt.Errorf("accept pool: %w", err)
		}
		pool = toks
		next.Store(0)
		return nil
	}
	in := invite.AcceptInput{Subject: subjectID}
	return func(ctx context.Context, _ *randT) error {
		i := next.Add(1) - 1
		if s == floor {
			i = 0
		} else if i >= int64(len(pool)) {
			return errPoolEmpty
		}
		if s == direct {
			_, err := b.m.Accept(ctx, pool[i], in)
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/public/invitations/"+pool[i]+"/accept", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(userHeader, subjectID)
		return b.do(req, http.StatusOK)
	}, prepare
}

// errPoolEmpty ends a worker's window early: every prepared invitation of
// an accept window has been accepted.
var errPoolEmpty = benchwin.ErrPoolEmpty

// serve serves h on a fresh 127.0.0.1 listener and returns the server and
// its base URL. With label, a CPU profile's samples of the server carry
// the labels op and side, as the workers' do (the server's goroutines are
// not theirs).
func serve(h http.Handler, s side, label bool) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	if label {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pprof.Do(r.Context(), pprof.Labels("op", routeOp(r), "side", s.String()), func(ctx context.Context) {
				next.ServeHTTP(w, r.WithContext(ctx))
			})
		})
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}
