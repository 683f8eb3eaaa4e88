package sqlstore

import (
	"context"
	"io/fs"
)

// SetMigrationFS makes Migrate apply the migrations in fsys's root instead
// of the embedded ones.
func SetMigrationFS(s *Store, fsys fs.FS) { s.migrationFS = fsys }

// EmbeddedMigrations returns the embedded migrations of d.
func EmbeddedMigrations(d Dialect) fs.FS { return dialectMigrations(d) }

// SetFillInBatch sets the number of rows a migration's fill-in reads at a
// time, until the test ends.
func SetFillInBatch(t interface{ Cleanup(func()) }, n int) {
	old := fillInBatch
	fillInBatch = n
	t.Cleanup(func() { fillInBatch = old })
}

// WriteSearchKeys writes one row's search keys as migration 0005's
// fill-in does, as read at version.
func WriteSearchKeys(ctx context.Context, s *Store, tenantID, id string, version int64, full, family string) error {
	return s.writeSearchKeys(ctx, s.db, []keyedRow{{tenantID: tenantID, id: id, version: version,
		full: nullString(full), family: nullString(family)}})
}
