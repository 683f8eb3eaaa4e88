// Package pglock serialises, across the test processes of one machine,
// the tests that use a shared PostgreSQL server and the test that stops
// and restarts it (sqlstore's TestPostgresServerRestart): go test ./...
// runs several packages' test binaries at once, and a restart in one
// breaks the connections of the others. The restart holds the server's
// lock exclusively, the others hold it shared.
package pglock

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
)

// Shared takes the lock of the server of dsn shared, waiting while a
// restart holds it, and returns its release.
func Shared(dsn string) (release func(), err error) { return lock(path(dsn), false) }

// Exclusive takes the lock of the server of dsn exclusively, waiting
// while other tests use the server, and returns its release.
func Exclusive(dsn string) (release func(), err error) { return lock(path(dsn), true) }

// path is the lock file of dsn's server: one per host and port.
func path(dsn string) string {
	key := dsn
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		key = u.Host
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(os.TempDir(), "invite-postgres-"+hex.EncodeToString(sum[:8])+".lock")
}
