package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/pglock"
	"github.com/invitekit/invite/sqlstore"
)

// The commands TestPostgresServerRestart controls the PostgreSQL server
// behind INVITE_POSTGRES_DSN with, run with sh -c. Either a stop and a start
// command (the server stays down for a while in between), or one restart
// command, for example
//
//	INVITE_POSTGRES_STOP_CMD='pg_ctlcluster 15 main stop -m fast'
//	INVITE_POSTGRES_START_CMD='pg_ctlcluster 15 main start'
//	INVITE_POSTGRES_RESTART_CMD='pg_ctlcluster 15 main restart -m fast'
//
// Stop in fast mode (a clean shutdown, which flushes what was committed:
// the test role commits with synchronous_commit=off), never immediate.
// Unset, the test skips, except under CI=true, where it finds the local
// cluster listening on the DSN's port with pg_lsclusters and uses
// pg_ctlcluster.
const (
	pgStopEnv    = "INVITE_POSTGRES_STOP_CMD"
	pgStartEnv   = "INVITE_POSTGRES_START_CMD"
	pgRestartEnv = "INVITE_POSTGRES_RESTART_CMD"
)

// The timeline of the restart test: load, stop the server, keep it down,
// start it, load again.
const (
	faultWarmup   = time.Second             // load before the stop
	faultDowntime = 1500 * time.Millisecond // between the stop and the start commands
	faultCooldown = 1500 * time.Millisecond // load after the start command returned
	faultWorkers  = 8
	faultCallTime = 10 * time.Second // bound on any one call
	faultRecovery = 10 * time.Second // for the pool to reconnect after the load
	faultTenant   = "fault"
	faultProbe    = "fault-probe"
)

// errWrongSuccess marks a call that returned success with a wrong result.
var errWrongSuccess = errors.New("wrong success")

// errNoServerControl means no command to stop and start the server is
// configured.
var errNoServerControl = errors.New("no server control configured")

// pgControl stops and starts (or restarts) the PostgreSQL server.
type pgControl struct {
	stop, start string // both set: stop, stay down, start
	restart     string // otherwise: one command
	from        string // where the commands came from
}

// pgServerControl returns how to control the server of dsn: from the
// environment, or under CI=true from pg_lsclusters.
func pgServerControl(dsn string) (*pgControl, error) {
	stop, start, restart := os.Getenv(pgStopEnv), os.Getenv(pgStartEnv), os.Getenv(pgRestartEnv)
	switch {
	case stop != "" && start != "":
		return &pgControl{stop: stop, start: start, from: pgStopEnv + ", " + pgStartEnv}, nil
	case stop != "" || start != "":
		return nil, fmt.Errorf("%s and %s must be set together", pgStopEnv, pgStartEnv)
	case restart != "":
		return &pgControl{restart: restart, from: pgRestartEnv}, nil
	case os.Getenv("CI") != "true":
		return nil, fmt.Errorf("%w: set %s and %s, or %s", errNoServerControl, pgStopEnv, pgStartEnv, pgRestartEnv)
	}
	return discoverCluster(dsn)
}

// discoverCluster finds the local Debian cluster (pg_lsclusters) listening
// on dsn's port.
func discoverCluster(dsn string) (*pgControl, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", postgresEnv, err)
	}
	switch {
	case cfg.Host == "localhost", strings.HasPrefix(cfg.Host, "/"):
	default:
		if ip := net.ParseIP(cfg.Host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%s names host %q, not this machine: set %s and %s", postgresEnv, cfg.Host, pgStopEnv, pgStartEnv)
		}
	}
	out, err := exec.Command("pg_lsclusters", "-h").Output()
	if err != nil {
		return nil, fmt.Errorf("pg_lsclusters -h: %w (set %s and %s)", err, pgStopEnv, pgStartEnv)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line) // version, cluster, port, status, owner, data directory, log file
		if len(f) >= 3 && f[2] == strconv.Itoa(int(cfg.Port)) {
			ctl := "pg_ctlcluster " + f[0] + " " + f[1]
			return &pgControl{stop: ctl + " stop -m fast", start: ctl + " start", from: "pg_lsclusters"}, nil
		}
	}
	return nil, fmt.Errorf("pg_lsclusters lists no cluster on port %d:\n%s", cfg.Port, out)
}

func runCommand(cmd string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", cmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgReachable opens and closes one connection of its own to dsn.
func pgReachable(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// ensureRunning starts the server unless it answers, and waits for it.
func (c *pgControl) ensureRunning(t *testing.T, dsn string) {
	if pgReachable(dsn) == nil {
		return
	}
	cmd := c.start
	if cmd == "" {
		cmd = c.restart
	}
	t.Logf("the server is down after the test: %s", cmd)
	if err := runCommand(cmd); err != nil {
		t.Errorf("starting the server again: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := pgReachable(dsn)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the server did not come back: %v", err)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// outageTimes are when the server was stopped and started (the commands'
// start and return).
type outageTimes struct {
	stopBegin, stopEnd, startBegin, startEnd time.Time
	err                                      error
}

// phase names when a call from start to end ran, relative to the outage.
func (o *outageTimes) phase(start, end time.Time) string {
	switch {
	case end.Before(o.stopBegin):
		return "before"
	case start.After(o.startEnd):
		return "after"
	}
	return "outage"
}

// faultCall is the outcome of one Manager call.
type faultCall struct {
	op         string // create, accept, intruder, retry-create, retry-accept, probe
	start, end time.Time
	err        error
	panicked   string // the panic and its stack
}

func (c *faultCall) ok() bool { return c.err == nil && c.panicked == "" }

// faultDo runs fn with a bounded context, timed, recovering a panic.
func faultDo(op string, fn func(ctx context.Context) error) (c faultCall) {
	ctx, cancel := context.WithTimeout(context.Background(), faultCallTime)
	defer cancel()
	c = faultCall{op: op, start: time.Now()}
	defer func() {
		c.end = time.Now()
		if p := recover(); p != nil {
			c.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	c.err = fn(ctx)
	return c
}

// faultAccept is one Accept call and what it returned.
type faultAccept struct {
	faultCall
	subject  string
	replayed bool
}

// faultInvitation is one invitation the load created, or tried to.
type faultInvitation struct {
	key, email string
	createErr  bool   // the first Create failed (its outcome is unknown)
	id, token  string // from the Create that succeeded
	accepts    []faultAccept
}

func (fi *faultInvitation) input() invite.CreateInput {
	return invite.CreateInput{TenantID: faultTenant, Invitee: invite.Invitee{Email: fi.email},
		IdempotencyKey: fi.key, Delivery: invite.DeliveryReturn, Roles: []string{"member"}}
}

func (fi *faultInvitation) owner() string    { return "owner-" + fi.key }
func (fi *faultInvitation) intruder() string { return "intruder-" + fi.key }

// accept runs one Accept of fi's token by subject.
func (fi *faultInvitation) accept(m *invite.Manager, op, subject string) faultAccept {
	a := faultAccept{subject: subject}
	a.faultCall = faultDo(op, func(ctx context.Context) error {
		acc, err := m.Accept(ctx, fi.token, invite.AcceptInput{Subject: subject})
		if err == nil {
			a.replayed = acc.Replayed
			if acc.Invitation.State != invite.StateAccepted || acc.Invitation.AcceptedBy != subject {
				return fmt.Errorf("%w: Accept by %s returned state %s accepted by %q",
					errWrongSuccess, subject, acc.Invitation.State, acc.Invitation.AcceptedBy)
			}
		}
		return err
	})
	return a
}

// isConnFailure reports whether err is the connection failing or the server
// shutting down or starting, judged by pgx's and the standard library's
// errors rather than by sqlstore's classification.
func isConnFailure(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection refused", "connection reset", "broken pipe",
		"unexpected EOF", "bad connection", "shutting down", "starting up", "terminating connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// errorTypes lists the types of err's chain, for diagnostics.
func errorTypes(err error) string {
	var types []string
	for err != nil {
		types = append(types, fmt.Sprintf("%T", err))
		err = errors.Unwrap(err)
	}
	return strings.Join(types, " > ")
}

var faultIDs = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|w\d+-\d+|:\d{4,5}->|\(\d+\)`)

// TestPostgresServerRestart stops the PostgreSQL server (fast shutdown) for
// a while and starts it again while eight goroutines create invitations
// and accept them, the owner alone or racing an intruder. With the same
// *sql.DB and Manager afterwards: every Create that succeeded is stored,
// every Accept that succeeded is stored as that subject's, no invitation
// was accepted by two subjects, every create and accept left exactly its
// events in the outbox, the connection failures were retryable errors,
// retrying the failed calls through the Manager is safe (a create or
// acceptance that committed although its call failed replays), and the
// Store works again without a new Manager.
func TestPostgresServerRestart(t *testing.T) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (source .ci/services.sh)", postgresEnv)
		}
		t.Skipf("%s is not set (source .ci/services.sh to run it)", postgresEnv)
	}
	ctl, err := pgServerControl(dsn)
	if err != nil {
		if os.Getenv("CI") == "true" || !errors.Is(err, errNoServerControl) {
			t.Fatalf("cannot stop and start the PostgreSQL server: %v", err)
		}
		t.Skipf("cannot stop and start the PostgreSQL server: %v", err)
	}
	t.Logf("server control (%s): stop %q start %q restart %q", ctl.from, ctl.stop, ctl.start, ctl.restart)
	// Wait until no other test process uses the server (go test ./...
	// runs packages at once), and keep them off it until it runs again.
	release, err := pglock.Exclusive(dsn)
	require.NoError(t, err, "locking the server")
	t.Cleanup(release)
	require.NoError(t, pgReachable(dsn), "the server must be running before the test")

	// A pool of the test's own, so that the outage hits only its
	// connections' state, and new tables on the shared server.
	be := backend{name: "Postgres", dialect: sqlstore.Postgres, server: true, db: func(t testing.TB) *sql.DB {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}}
	st, db := be.newStore(t)
	m := manager(t, st)
	// Runs before the tables are dropped: whatever happened, leave the
	// server running.
	t.Cleanup(func() { ctl.ensureRunning(t, dsn) })

	// The outage: stop, stay down, start (or restart), then let the load run
	// on a while before stopping it.
	stopLoad := make(chan struct{})
	var outage outageTimes
	outageDone := make(chan struct{})
	go func() {
		defer close(outageDone)
		defer close(stopLoad)
		time.Sleep(faultWarmup)
		outage.stopBegin = time.Now()
		if ctl.restart != "" {
			outage.err = runCommand(ctl.restart)
			outage.stopEnd, outage.startBegin = time.Now(), time.Now()
		} else {
			if outage.err = runCommand(ctl.stop); outage.err != nil {
				outage.stopEnd, outage.startBegin, outage.startEnd = time.Now(), time.Now(), time.Now()
				return
			}
			outage.stopEnd = time.Now()
			time.Sleep(faultDowntime)
			outage.startBegin = time.Now()
			outage.err = runCommand(ctl.start)
		}
		outage.startEnd = time.Now()
		time.Sleep(faultCooldown)
	}()

	loadStart := time.Now()
	work := make([][]*faultInvitation, faultWorkers)
	calls := make([][]faultCall, faultWorkers)
	var wg sync.WaitGroup
	for w := range faultWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				fi := &faultInvitation{key: fmt.Sprintf("w%d-%d", w, i), email: fmt.Sprintf("w%d-%d@fault.example", w, i)}
				work[w] = append(work[w], fi)
				var res *invite.Result
				c := faultDo("create", func(ctx context.Context) error {
					var err error
					res, err = m.Create(ctx, fi.input())
					if err == nil && (res.Replayed || res.Token.Reveal() == "") {
						return fmt.Errorf("%w: a first Create replayed (%v) or returned no token", errWrongSuccess, res.Replayed)
					}
					return err
				})
				calls[w] = append(calls[w], c)
				if !c.ok() {
					fi.createErr = true
					time.Sleep(20 * time.Millisecond) // no busy loop while the server is down
					continue
				}
				fi.id, fi.token = res.Invitation.ID, res.Token.Reveal()
				if i%3 == 0 {
					// The owner and an intruder race for the invitation.
					var intruder faultAccept
					done := make(chan struct{})
					go func() {
						defer close(done)
						intruder = fi.accept(m, "intruder", fi.intruder())
					}()
					owner := fi.accept(m, "accept", fi.owner())
					<-done
					fi.accepts = append(fi.accepts, owner, intruder)
				} else {
					fi.accepts = append(fi.accepts, fi.accept(m, "accept", fi.owner()))
				}
				failed := false
				for _, a := range fi.accepts {
					calls[w] = append(calls[w], a.faultCall)
					failed = failed || (!a.ok() && !errors.Is(a.err, invite.ErrAlreadyAccepted))
				}
				if failed {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	<-outageDone
	loadTime := time.Since(loadStart)
	require.NoError(t, outage.err, "controlling the server")

	ctx := context.Background()
	var all []*faultInvitation
	var allCalls []faultCall
	for w := range faultWorkers {
		all = append(all, work[w]...)
		allCalls = append(allCalls, calls[w]...)
	}

	// The Store works again with the same pool and Manager: the pool
	// reconnects within faultRecovery.
	recoverStart := time.Now()
	var probeErrs []faultCall
	for i := 0; ; i++ {
		fi := &faultInvitation{key: fmt.Sprintf("probe-%d", i), email: fmt.Sprintf("probe-%d@fault.example", i)}
		c := faultDo("probe", func(ctx context.Context) error {
			in := fi.input()
			in.TenantID = faultProbe
			res, err := m.Create(ctx, in)
			if err != nil {
				return err
			}
			fi.token = res.Token.Reveal()
			_, err = m.Accept(ctx, fi.token, invite.AcceptInput{Subject: fi.owner()})
			return err
		})
		require.Empty(t, c.panicked, "probe panicked")
		if c.ok() {
			break
		}
		probeErrs = append(probeErrs, c)
		if time.Since(recoverStart) > faultRecovery {
			t.Fatalf("the Store did not work again within %s of the load: %v", faultRecovery, c.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recoverTime := time.Since(recoverStart)
	allCalls = append(allCalls, probeErrs...)

	// Retrying the failed calls through the Manager is safe: a Create that
	// committed although its call failed replays (no second invitation); an
	// acceptance that committed replays for its subject.
	committedCreates, committedAccepts := 0, 0
	for _, fi := range all {
		if fi.createErr {
			var res *invite.Result
			c := faultDo("retry-create", func(ctx context.Context) error {
				var err error
				res, err = m.Create(ctx, fi.input())
				return err
			})
			allCalls = append(allCalls, c)
			if !c.ok() {
				t.Errorf("retrying Create %s after the restart: %v%s", fi.key, c.err, c.panicked)
				continue
			}
			if res.Invitation.Invitee.Email != fi.email {
				t.Errorf("wrong success: retried Create %s returned invitee %s", fi.key, res.Invitation.Invitee.Email)
			}
			if res.Replayed {
				committedCreates++
			}
			continue
		}
		ownerFailed, ownerOK := false, false
		for _, a := range fi.accepts {
			if a.subject != fi.owner() {
				continue
			}
			ownerOK = ownerOK || a.ok()
			ownerFailed = ownerFailed || (!a.ok() && !errors.Is(a.err, invite.ErrAlreadyAccepted))
		}
		if ownerFailed && !ownerOK {
			a := fi.accept(m, "retry-accept", fi.owner())
			fi.accepts = append(fi.accepts, a)
			allCalls = append(allCalls, a.faultCall)
			switch {
			case a.ok() && a.replayed:
				committedAccepts++
			case a.ok(), errors.Is(a.err, invite.ErrAlreadyAccepted):
			default:
				t.Errorf("retrying Accept %s after the restart: %v%s", fi.key, a.err, a.panicked)
			}
		}
	}

	// Every success is in the database; no invitation has two acceptors.
	okCreates, okAccepts := 0, 0
	for _, fi := range all {
		if fi.id == "" {
			continue
		}
		okCreates++
		inv, err := m.Get(ctx, faultTenant, fi.id)
		if err != nil {
			t.Errorf("Create %s returned ok (invitation %s) but Get fails after the restart: %v", fi.key, fi.id, err)
			continue
		}
		if inv.Invitee.Email != fi.email {
			t.Errorf("invitation %s: invitee %s, created for %s", fi.id, inv.Invitee.Email, fi.email)
		}
		winners := map[string]bool{}
		for _, a := range fi.accepts {
			if !a.ok() {
				continue
			}
			okAccepts++
			if !a.replayed {
				winners[a.subject] = true
			}
			if inv.State != invite.StateAccepted || inv.AcceptedBy != a.subject {
				t.Errorf("Accept %s by %s returned ok (replayed %v), but the stored invitation is %s, accepted by %q",
					fi.key, a.subject, a.replayed, inv.State, inv.AcceptedBy)
			}
		}
		if len(winners) > 1 {
			t.Errorf("invitation %s (%s) accepted by %d subjects: %v", fi.id, fi.key, len(winners), winners)
		}
	}

	// Every invitation written exactly once (the retries replayed or created
	// the rest), each with its created event and, accepted, exactly one
	// accepted event: the row and its outbox rows committed together.
	prefix := st.TablePrefix()
	states := map[string]string{}
	rows, err := db.QueryContext(ctx, "SELECT id, state FROM "+prefix+"invitations WHERE tenant_id = $1", faultTenant)
	require.NoError(t, err)
	for rows.Next() {
		var id, state string
		require.NoError(t, rows.Scan(&id, &state))
		states[id] = state
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(all), len(states), "one stored invitation per invitation key")
	events := map[string]map[string]int{}
	rows, err = db.QueryContext(ctx, "SELECT invitation_id, type, count(*) FROM "+prefix+"outbox WHERE tenant_id = $1 GROUP BY invitation_id, type", faultTenant)
	require.NoError(t, err)
	for rows.Next() {
		var id, typ string
		var n int
		require.NoError(t, rows.Scan(&id, &typ, &n))
		if events[id] == nil {
			events[id] = map[string]int{}
		}
		events[id][typ] = n
	}
	require.NoError(t, rows.Err())
	for id, evs := range events {
		if _, ok := states[id]; !ok {
			t.Errorf("outbox holds events %v of invitation %s, which is not stored", evs, id)
		}
	}
	for id, state := range states {
		want := map[string]int{string(invite.EventCreated): 1}
		if state == string(invite.StateAccepted) {
			want[string(invite.EventAccepted)] = 1
		}
		if got := events[id]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("invitation %s (%s): outbox events %v, want %v", id, state, got, want)
		}
	}

	// The errors: connection failures must be retryable; anything else is
	// reported.
	type tally struct{ ok, retryable, expected, other int }
	byPhase := map[string]*tally{}
	messages := map[string]int{}
	var firstAfter time.Time // the end of the first success of a call begun once the server was down
	for _, c := range allCalls {
		phase := outage.phase(c.start, c.end)
		if c.op == "retry-create" || c.op == "retry-accept" || c.op == "probe" {
			phase = "verify"
		}
		key := phase + " " + c.op
		if byPhase[key] == nil {
			byPhase[key] = &tally{}
		}
		tl := byPhase[key]
		switch {
		case c.panicked != "":
			t.Errorf("%s panicked: %s", c.op, c.panicked)
		case c.err == nil:
			tl.ok++
			if c.start.After(outage.stopEnd) && (firstAfter.IsZero() || c.end.Before(firstAfter)) {
				firstAfter = c.end
			}
		case errors.Is(c.err, errWrongSuccess):
			t.Errorf("%s: %v", c.op, c.err)
		case errors.Is(c.err, invite.ErrAlreadyAccepted) && c.op != "create":
			tl.expected++
		case sqlstore.IsRetryable(c.err):
			tl.retryable++
			messages["retryable: "+faultIDs.ReplaceAllString(c.err.Error(), "…")]++
		default:
			tl.other++
			messages["OTHER: "+faultIDs.ReplaceAllString(c.err.Error(), "…")]++
			if isConnFailure(c.err) {
				t.Errorf("%s (%s): a connection failure that sqlstore.IsRetryable does not recognise: %v (%s)",
					c.op, phase, c.err, errorTypes(c.err))
			}
		}
	}
	outageErrs := 0
	keys := make([]string, 0, len(byPhase))
	for k, tl := range byPhase {
		keys = append(keys, k)
		if strings.HasPrefix(k, "outage ") {
			outageErrs += tl.retryable + tl.other
		}
	}
	sort.Strings(keys)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	timeline := fmt.Sprintf("restart took %s", ms(outage.startEnd.Sub(outage.stopBegin)))
	if ctl.restart == "" {
		timeline = fmt.Sprintf("stop took %s, down %s, start took %s, first success %s into the start",
			ms(outage.stopEnd.Sub(outage.stopBegin)), ms(outage.startBegin.Sub(outage.stopEnd)),
			ms(outage.startEnd.Sub(outage.startBegin)), ms(firstAfter.Sub(outage.startBegin)))
	}
	t.Logf("load %s on %d goroutines; %s; Store usable %s after the load", ms(loadTime), faultWorkers, timeline, ms(recoverTime))
	t.Logf("%d invitations: %d created ok, %d accepts ok; after the restart %d failed creates and %d failed acceptances turned out committed",
		len(all), okCreates, okAccepts, committedCreates, committedAccepts)
	for _, k := range keys {
		tl := byPhase[k]
		t.Logf("  %-22s ok %5d  retryable %4d  already-accepted %4d  other %4d", k, tl.ok, tl.retryable, tl.expected, tl.other)
	}
	msgs := make([]string, 0, len(messages))
	for msg := range messages {
		msgs = append(msgs, msg)
	}
	sort.Strings(msgs)
	for _, msg := range msgs {
		t.Logf("  %4d× %s", messages[msg], msg)
	}
	if okCreates == 0 || byPhase["before create"] == nil || byPhase["before create"].ok == 0 {
		t.Errorf("no Create succeeded before the outage: the load did not run")
	}
	if outageErrs == 0 {
		t.Errorf("no call failed during the outage: the server was not down while the load ran")
	}
}
