package deliverytest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// The crash child's environment: crashChildEnv=1 makes TestMain run
// crashChild; crashLocationEnv holds the store's location (JSON) and
// crashLogEnv the file the child's notifier appends its deliveries to.
const (
	crashChildEnv    = "INVITE_CRASH_CHILD"
	crashLocationEnv = "INVITE_CRASH_LOCATION"
	crashLogEnv      = "INVITE_CRASH_LOG"
)

// crashKills is how many times TestCrash kills a child per database.
const crashKills = 24

// crashChild is the process TestCrash kills: it creates invitations (send
// mode) in a loop, printing "ready" once it is set up and "committed <id>"
// after each Create returns. Its notifier succeeds half of the time, and
// appends "delivered <invitation id> <message id>" to the log file before
// it returns nil: the line is the delivery. It runs until killed (or for
// at most 30 s) and returns its exit code.
func crashChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		return 3
	}
	var loc location
	if err := json.Unmarshal([]byte(os.Getenv(crashLocationEnv)), &loc); err != nil {
		return fail("location: %v", err)
	}
	log, err := os.OpenFile(os.Getenv(crashLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail("log: %v", err)
	}
	st, closeDB, err := openLocation(loc)
	if err != nil {
		return fail("store: %v", err)
	}
	defer closeDB()
	notifier := invite.NotifierFunc(func(_ context.Context, msg invite.Message) error {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		if rand.IntN(2) == 0 {
			return errTransport
		}
		// One write: a kill leaves the whole line or none of it.
		if _, err := fmt.Fprintf(log, "delivered %s %s\n", msg.InvitationID, msg.ID); err != nil {
			return err
		}
		return nil
	})
	m, err := invite.New(st, config(notifier, nil, nil))
	if err != nil {
		return fail("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Println("ready")
	for ctx.Err() == nil {
		res, err := m.Create(ctx, invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: email("crash")}})
		if err != nil {
			return fail("Create: %v", err)
		}
		fmt.Printf("committed %s\n", res.Invitation.ID)
	}
	return fail("not killed within 30 s")
}

// TestCrash kills a child process (crashChild) creating invitations with
// SIGKILL crashKills times, each a random 20 to 150 ms after it is ready,
// on one database. Then a Dispatcher in this process, with a recording
// notifier and a clock an hour ahead (past the inline attempts' window),
// drains the outbox. Whatever the kills interrupted (a Create's write, its
// inline attempt, the write marking the invitation sent), every invitation
// in the database must end sent, every invitation the child saw committed
// must have been delivered (by the child or the dispatcher) under the one
// message id queued for it, the dispatcher must deliver only invitations
// that are in the database, and nothing may stay pending.
func TestCrash(t *testing.T) {
	for _, be := range only(backends(t), "SQLite", "Postgres", "MySQL") {
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			fx := be.open(t)
			loc, err := json.Marshal(fx.Loc)
			require.NoError(t, err)
			logPath := filepath.Join(t.TempDir(), "delivered.log")

			committed := map[string]bool{}
			for kill := range crashKills {
				for _, id := range runCrashChild(t, kill, string(loc), logPath) {
					committed[id] = true
				}
			}
			killed := time.Since(start)

			// The dispatcher's clock runs an hour ahead: the entries the
			// child queued are due.
			notifier := &flakyNotifier{}
			m, err := invite.New(fx.Store, config(notifier, nil, func() time.Time { return time.Now().Add(time.Hour) }))
			require.NoError(t, err)
			d, err := m.NewDispatcher(invite.DispatcherConfig{ID: "after-crash"})
			require.NoError(t, err)
			_, err = d.Drain(t.Context())
			require.NoError(t, err)

			// The deliveries: the child's log, then the dispatcher's.
			delivered := map[string][]string{} // invitation id -> message ids
			childDelivered := readCrashLog(t, logPath)
			for _, dl := range childDelivered {
				delivered[dl[0]] = append(delivered[dl[0]], dl[1])
			}
			byDispatcher := notifier.sent()
			for _, s := range byDispatcher {
				delivered[s.Msg.InvitationID] = append(delivered[s.Msg.InvitationID], s.Msg.ID)
			}

			invs := listAll(t, fx.Store, tenant)
			inDB := map[string]*invite.Invitation{}
			resent := 0
			for _, inv := range invs {
				inDB[inv.ID] = inv
				require.Equal(t, invite.StateSent, inv.State, "invitation %s", inv.ID)
				require.GreaterOrEqual(t, inv.SendCount, 1, "invitation %s", inv.ID)
				require.NotEmpty(t, delivered[inv.ID], "invitation %s is sent but was never delivered", inv.ID)
				for _, mid := range delivered[inv.ID][1:] {
					require.Equal(t, delivered[inv.ID][0], mid, "invitation %s was delivered under two message ids", inv.ID)
				}
				if len(delivered[inv.ID]) > 1 {
					resent++
				}
			}
			for id := range committed {
				require.Contains(t, inDB, id, "committed invitation %s is not in the database", id)
			}
			for _, s := range byDispatcher {
				require.Contains(t, inDB, s.Msg.InvitationID, "the dispatcher delivered invitation %s, which is not in the database", s.Msg.InvitationID)
			}
			for _, dl := range childDelivered {
				require.Contains(t, inDB, dl[0], "the child delivered invitation %s, which is not in the database", dl[0])
			}
			s := outboxStats(t, fx.Store)
			require.Zero(t, s.Pending, "pending entries")
			require.Zero(t, s.Dead, "dead entries")
			require.NotEmpty(t, committed, "no child committed anything: the proof proves nothing")

			t.Logf("%s: %d kills in %s; %d invitations in the database (%d seen committed), %d delivered by the child, "+
				"%d by the dispatcher, %d delivered twice; total %s", be.name, crashKills, killed.Round(time.Millisecond),
				len(invs), len(committed), len(childDelivered), len(byDispatcher), resent, time.Since(start).Round(time.Millisecond))
		})
	}
}

// runCrashChild starts one crash child on the store at loc, kills it a
// random 20 to 150 ms after it is ready, and returns the invitation ids it
// printed as committed.
func runCrashChild(t *testing.T, kill int, loc, logPath string) []string {
	t.Helper()
	var ids []string
	for _, line := range runChild(t, kill, crashChildEnv+"=1", crashLocationEnv+"="+loc, crashLogEnv+"="+logPath) {
		if id, ok := strings.CutPrefix(line, "committed "); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// runChild re-executes the test binary as a child process with the given
// environment added (crashChildEnv chooses what it runs: see TestMain),
// kills it with SIGKILL a random 20 to 150 ms after it printed "ready",
// and returns the whole lines it printed after "ready" (a line the kill
// cut short is dropped). The child must have died of the SIGKILL.
func runChild(t *testing.T, kill int, env ...string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }() // in case a require below fails

	ready := make(chan struct{})
	var lines []string
	var wg sync.WaitGroup
	wg.Go(func() {
		r := bufio.NewReader(stdout)
		isReady := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// EOF; a line without its newline was cut by the kill.
				_, _ = io.Copy(io.Discard, r)
				return
			}
			switch line = strings.TrimSuffix(line, "\n"); {
			case line == "ready" && !isReady:
				isReady = true
				close(ready)
			case isReady:
				lines = append(lines, line)
			}
		}
	})
	exited := make(chan struct{})
	go func() {
		wg.Wait()
		close(exited)
	}()
	select {
	case <-ready:
	case <-exited:
		_ = cmd.Wait()
		t.Fatalf("kill %d: the child exited before it was ready: %s", kill, stderr.String())
	}
	time.Sleep(time.Duration(20+rand.IntN(131)) * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-exited
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "kill %d: the child ended with %v: %s", kill, err, stderr.String())
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"kill %d: the child was not killed but exited: %v: %s", kill, err, stderr.String())
	return lines
}

// readCrashLog returns the (invitation id, message id) pairs of the
// child's delivery log, ignoring a last line a kill cut short.
func readCrashLog(t *testing.T, path string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out [][2]string
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[:len(lines)-1] { // the last is "" or cut short
		f := strings.Fields(line)
		require.Len(t, f, 3, "log line %q", line)
		require.Equal(t, "delivered", f[0], "log line %q", line)
		out = append(out, [2]string{f[1], f[2]})
	}
	return out
}
