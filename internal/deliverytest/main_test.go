// Package deliverytest proves the durable delivery of invite (the Outbox
// and the Dispatcher) end to end, on memstore and on every sqlstore
// dialect that can run here:
//
//   - TestCrash: a child process creating invitations is killed with
//     SIGKILL at random points; a dispatcher started afterwards delivers
//     every committed invitation, and only those.
//   - TestDispatcherCrash: a child process running a Dispatcher is killed
//     with SIGKILL in the middle of its batches; a dispatcher started
//     afterwards takes over the claims left behind, every queued message
//     goes out and nothing is dead-lettered.
//   - TestOutage: a notifier and an event sink failing 30% of their calls;
//     every invitation ends sent and every committed event arrives.
//   - TestReplicas (events) and TestReplicasMessages: several dispatchers
//     on one database never deliver one entry at the same time within a
//     lease, and a cancelled or hung one leaves its entries to the others
//     (TestReplicaStopped).
//   - TestSlowNotifier: a Notifier that uses up its attempt's time does
//     not leave its invitation unsent.
//   - TestHostTransaction: a Create inside a host transaction is delivered
//     when the host commits, never when it rolls back.
//
// PostgreSQL and MariaDB run when INVITE_POSTGRES_DSN and INVITE_MYSQL_DSN
// are set (source .ci/services.sh); under CI=true a missing DSN fails.
package deliverytest

import (
	"fmt"
	"os"
	"testing"

	"github.com/invitekit/invite/internal/pglock"
)

// TestMain runs a child process instead of the tests when a test
// re-executes the test binary as one: the crash child (crashChild) for
// TestCrash, the dispatcher child (dispatcherChild) for
// TestDispatcherCrash. Otherwise it holds the
// PostgreSQL server's lock shared while the tests run: sqlstore's
// TestPostgresServerRestart, in another test binary, restarts the server.
func TestMain(m *testing.M) {
	switch os.Getenv(crashChildEnv) {
	case "1":
		os.Exit(crashChild())
	case dispatcherChildMode:
		os.Exit(dispatcherChild())
	}
	if dsn := os.Getenv(postgresEnv); dsn != "" {
		release, err := pglock.Shared(dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "locking the PostgreSQL server:", err)
			os.Exit(1)
		}
		code := m.Run()
		release()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
