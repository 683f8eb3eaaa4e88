package sqlstore

import "io/fs"

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
