package deliverytest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// The dispatcher child: crashChildEnv=dispatcherChildMode makes TestMain
// run dispatcherChild, with crashLocationEnv and crashLogEnv as for the
// crash child, and crashKillEnv the kill's number.
const (
	dispatcherChildMode = "dispatcher"
	crashKillEnv        = "INVITE_CRASH_KILL"
)

const (
	// dispatcherKills is how many times TestDispatcherCrash kills a
	// dispatcher child per database, and dispatcherQueued how many
	// messages it queues for them.
	dispatcherKills  = 12
	dispatcherQueued = 200
	// dispatcherMaxAttempts is the MaxAttempts of every dispatcher of
	// TestDispatcherCrash. Each claim counts an attempt, and a kill leaves
	// the claims of the batch it interrupted to run out: one attempt lost
	// per kill, at most, for each entry (one dispatcher never holds two
	// claims of one entry), and with 12 kills more than the default 10
	// attempts. The kills may use up dispatcherKills attempts of an entry;
	// the default 10 remain for the notifiers' failures, so that none is
	// dead-lettered because of the kills.
	dispatcherMaxAttempts = dispatcherKills + 10
)

// dispatcherChild is the process TestDispatcherCrash kills: a Dispatcher
// of messages (BatchSize 25, Concurrency 2, Lease 500 ms) over the
// store's queue, whose notifier takes 10 to 30 ms and fails one call in
// ten (before the message went out), and appends
// "delivered <kill> <invitation id> <message id> <token>" to the log file
// before it returns nil: the line is the message going out. Its store
// prints "ready" once a claim returned entries (the first batch has
// begun), "claimed <entry id> <attempt>" for each entry it claims and
// "settled <entry id>" for each claim it settles (after the write
// returned: a settlement the kill cut between its commit and its line
// counts as left behind). It runs until killed (or for at most 30 s) and
// returns its exit code.
func dispatcherChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "dispatcher child: "+format+"\n", args...)
		return 3
	}
	var loc location
	if err := json.Unmarshal([]byte(os.Getenv(crashLocationEnv)), &loc); err != nil {
		return fail("location: %v", err)
	}
	kill := os.Getenv(crashKillEnv)
	log, err := os.OpenFile(os.Getenv(crashLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail("log: %v", err)
	}
	st, closeDB, err := openLocation(loc)
	if err != nil {
		return fail("store: %v", err)
	}
	defer closeDB()
	notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
		select {
		case <-time.After(time.Duration(10_000+rand.IntN(20_000)) * time.Microsecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if rand.IntN(10) == 0 {
			return errTransport
		}
		// One write: a kill leaves the whole line or none of it.
		_, err := fmt.Fprintf(log, "delivered %s %s %s %s\n", kill, msg.InvitationID, msg.ID, token(msg))
		return err
	})
	m, err := invite.New(&printingStore{Store: st, Outbox: st}, config(notifier, nil, nil))
	if err != nil {
		return fail("New: %v", err)
	}
	d, err := m.NewDispatcher(invite.DispatcherConfig{ID: "child-" + kill, BatchSize: 25, Concurrency: 2,
		Lease: 500 * time.Millisecond, AttemptTimeout: 250 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		MaxAttempts: dispatcherMaxAttempts, Backoff: func(int) time.Duration { return time.Millisecond }})
	if err != nil {
		return fail("NewDispatcher: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		return fail("Run: %v", err)
	}
	return fail("not killed within 30 s")
}

// printingStore is the dispatcher child's store: it prints its claims and
// settlements (see dispatcherChild).
type printingStore struct {
	invite.Store
	invite.Outbox
	ready sync.Once
}

func (s *printingStore) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration, limit int) ([]*invite.OutboxEntry, error) {
	es, err := s.Outbox.ClaimOutbox(ctx, owner, kinds, now, lease, limit)
	if len(es) > 0 {
		s.ready.Do(func() { fmt.Println("ready") })
	}
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "claimed %s %d\n", e.ID, e.Attempts)
	}
	fmt.Print(b.String())
	return es, err
}

func (s *printingStore) SettleOutbox(ctx context.Context, owner string, now time.Time, ss []invite.Settlement) (int, error) {
	n, err := s.Outbox.SettleOutbox(ctx, owner, now, ss)
	if err == nil {
		var b strings.Builder
		for _, x := range ss {
			fmt.Fprintf(&b, "settled %s\n", x.ID)
		}
		fmt.Print(b.String())
	}
	return n, err
}

// Apply prints the entries a write settled: the one marking an invitation
// sent settles its message.
func (s *printingStore) Apply(ctx context.Context, b *invite.Batch) error {
	err := s.Store.Apply(ctx, b)
	if err == nil && len(b.Delivered) > 0 {
		var sb strings.Builder
		for _, id := range b.Delivered {
			fmt.Fprintf(&sb, "settled %s\n", id)
		}
		fmt.Print(sb.String())
	}
	return err
}

// TestDispatcherCrash queues dispatcherQueued messages (invitations
// created in send mode whose inline attempt failed), then kills a child
// process running a Dispatcher over them (dispatcherChild) with SIGKILL
// dispatcherKills times, each a random 20 to 150 ms after its first claim
// returned, in the middle of that batch: wherever the kill lands (a
// secret minted but not sent, a message sent but the invitation not
// marked, a settlement half written), its claims are left to run out.
// Then a Dispatcher in this process (Lease 2 s), whose notifier fails one
// call in ten (half of those after the message went out), runs until
// nothing is pending. Every queued message must have gone out at least
// once, under its own id; every invitation must end sent, once; the
// newest link of each must work and the older ones not; and nothing may
// be dead-lettered (see dispatcherMaxAttempts).
func TestDispatcherCrash(t *testing.T) {
	for _, be := range only(backends(t), "SQLite", "Postgres", "MySQL") {
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			fx := be.open(t)
			queued := queueMessages(t, fx.Store, dispatcherQueued)
			loc, err := json.Marshal(fx.Loc)
			require.NoError(t, err)
			logPath := filepath.Join(t.TempDir(), "delivered.log")

			// Each kill must leave claims behind: claimed, not settled.
			left := 0
			for kill := range dispatcherKills {
				lines := runChild(t, kill, crashChildEnv+"="+dispatcherChildMode, crashLocationEnv+"="+string(loc),
					crashLogEnv+"="+logPath, crashKillEnv+"="+strconv.Itoa(kill))
				held := map[string]bool{}
				for _, line := range lines {
					f := strings.Fields(line)
					switch {
					case len(f) == 3 && f[0] == "claimed":
						held[f[1]] = true
					case len(f) == 2 && f[0] == "settled":
						delete(held, f[1])
					default:
						t.Fatalf("kill %d: the child printed %q", kill, line)
					}
				}
				require.NotEmpty(t, held, "kill %d left no claim behind: it did not interrupt a batch", kill)
				left += len(held)
			}
			killed := time.Since(start)

			// The child's deliveries, in order.
			var hs []handover
			b, err := os.ReadFile(logPath)
			require.NoError(t, err)
			lines := strings.Split(string(b), "\n")
			for _, line := range lines[:len(lines)-1] { // the last is "" or cut short
				f := strings.Fields(line)
				require.Len(t, f, 5, "log line %q", line)
				require.Equal(t, "delivered", f[0], "log line %q", line)
				hs = append(hs, handover{invitationID: f[2], messageID: f[3], token: f[4]})
			}
			byChildren := len(hs)

			// The dispatcher of this process, until nothing is pending; it
			// records the attempt of each of its claims.
			notifier := &flakyNotifier{failRate: 0.1}
			cs := &claimCounter{Store: fx.Store, Outbox: fx.Store.(invite.Outbox)}
			m, err := invite.New(cs, config(notifier, nil, nil))
			require.NoError(t, err)
			d, err := m.NewDispatcher(invite.DispatcherConfig{ID: "after-kills", Lease: 2 * time.Second, AttemptTimeout: time.Second,
				PollInterval: 20 * time.Millisecond, MaxAttempts: dispatcherMaxAttempts, Backoff: func(int) time.Duration { return time.Millisecond }})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			wg.Go(func() { assert.NoError(t, d.Run(ctx)) })
			deadline := time.Now().Add(2 * time.Minute)
			for outboxStats(t, fx.Store).Pending > 0 {
				require.True(t, time.Now().Before(deadline), "the dispatcher did not deliver everything within 2 minutes")
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			wg.Wait()
			for _, s := range notifier.sent() {
				hs = append(hs, handover{invitationID: s.Msg.InvitationID, messageID: s.Msg.ID, token: s.Token})
			}

			s := outboxStats(t, fx.Store)
			require.Zero(t, s.Pending, "pending entries")
			require.Zero(t, s.Dead, "dead entries: the kills used up attempts")
			invs := listAll(t, fx.Store, tenant)
			require.Len(t, invs, dispatcherQueued, "invitations")
			for _, inv := range invs {
				require.Equal(t, invite.StateSent, inv.State, "invitation %s", inv.ID)
				require.Equal(t, 1, inv.SendCount, "invitation %s", inv.ID)
			}
			dups := checkHandovers(t, m, queued, hs, false)
			cs.mu.Lock()
			reclaimed, maxAttempt := cs.reclaimed, cs.max
			cs.mu.Unlock()
			t.Logf("%s: %d messages; %d kills in %s left %d claims behind; %d sent by the children, %d by the dispatcher "+
				"(%d of its claims were of entries claimed before, attempt up to %d of %d), %d sent more than once; total %s",
				be.name, dispatcherQueued, dispatcherKills, killed.Round(time.Millisecond), left, byChildren, len(hs)-byChildren,
				reclaimed, maxAttempt, dispatcherMaxAttempts, dups, time.Since(start).Round(time.Millisecond))
		})
	}
}

// claimCounter is a store that counts the claims of entries claimed
// before (Attempts above 1) and the highest attempt claimed.
type claimCounter struct {
	invite.Store
	invite.Outbox
	mu        sync.Mutex
	reclaimed int
	max       int
}

func (s *claimCounter) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration, limit int) ([]*invite.OutboxEntry, error) {
	es, err := s.Outbox.ClaimOutbox(ctx, owner, kinds, now, lease, limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		if e.Attempts > 1 {
			s.reclaimed++
		}
		s.max = max(s.max, e.Attempts)
	}
	return es, err
}
