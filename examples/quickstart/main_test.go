package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/invitekit/invite/sqlstore"
)

// tokens matches the link tokens in the output.
var tokens = regexp.MustCompile(`inv_[0-9A-Za-z]+`)

// TestRun keeps the quickstart working on every store: run checks every
// expected outcome itself and returns an error on the first surprise, and
// the output is the same everywhere apart from its first line and the
// tokens. Memory and SQLite always run; PostgreSQL and MySQL when
// INVITE_POSTGRES_DSN and INVITE_MYSQL_DSN are set (source
// .ci/services.sh), on tables of their own.
func TestRun(t *testing.T) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "qs" + hex.EncodeToString(b[:]) + "_"
	stores := []struct {
		cfg storeConfig
		env string
	}{
		{cfg: storeConfig{kind: "memory"}},
		{cfg: storeConfig{kind: "sqlite", sqlitePath: filepath.Join(t.TempDir(), "invite-quickstart.db")}},
		{cfg: storeConfig{kind: "postgres", tablePrefix: prefix, dropAfter: true}, env: "INVITE_POSTGRES_DSN"},
		{cfg: storeConfig{kind: "mysql", tablePrefix: prefix, dropAfter: true}, env: "INVITE_MYSQL_DSN"},
	}
	var want string                               // the memory store's output after its first line
	start := time.Now().UTC().Truncate(time.Hour) // the same dates for every store
	for _, s := range stores {
		t.Run(s.cfg.kind, func(t *testing.T) {
			if s.env != "" {
				if s.cfg.dsn = os.Getenv(s.env); s.cfg.dsn == "" {
					t.Skipf("%s is not set (source .ci/services.sh to run it)", s.env)
				}
			}
			s.cfg.start = start
			var out strings.Builder
			// The sqlstore tests, which may run at the same time, stop and
			// start the PostgreSQL server: run again (from scratch) after a
			// database failure that may pass when retried.
			deadline := time.Now().Add(30 * time.Second)
			for {
				out.Reset()
				err := quickstart(context.Background(), &out, s.cfg)
				if err == nil {
					break
				}
				if s.env == "" || !sqlstore.IsRetryable(err) || time.Now().After(deadline) {
					t.Fatalf("quickstart: %v\noutput:\n%s", err, out.String())
				}
				t.Logf("quickstart failed, running it again: %v", err)
				time.Sleep(time.Second)
			}
			first, rest, _ := strings.Cut(out.String(), "\n")
			rest = tokens.ReplaceAllString(rest, "inv_…") // fresh secrets every run
			if !strings.HasPrefix(first, "Store: "+s.cfg.kind+" ") {
				t.Errorf("first line %q does not name the store %s", first, s.cfg.kind)
			}
			if !strings.HasSuffix(rest, "purged: 2\n  0 invitation(s):\n") {
				t.Errorf("output does not end with the purge:\n%s", rest)
			}
			if want == "" {
				want = rest
			} else if rest != want {
				t.Errorf("output differs from the memory store's:\n%s\nwant:\n%s", rest, want)
			}
		})
	}
}

// TestSQLiteFileIsRemoved: run as the README says, the quickstart leaves
// no database behind.
func TestSQLiteFileIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out strings.Builder
	if err := quickstart(context.Background(), &out, storeConfig{kind: "sqlite"}); err != nil {
		t.Fatalf("quickstart: %v", err)
	}
	if !strings.Contains(out.String(), "removed at the end") {
		t.Fatalf("first line does not say where the file went: %q", strings.SplitN(out.String(), "\n", 2)[0])
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("left behind in the temporary directory: %v", left)
	}
}
