package invite

// Hooks for the external tests of this package.

// CodeChecks returns how many argon2id checks m has run.
func CodeChecks(m *Manager) int64 { return m.codes.checks.Load() }

// HoldCodeSlots takes every slot of m's bound on concurrent code checks
// until release is called.
func HoldCodeSlots(m *Manager) (release func()) {
	n := cap(m.codes.sem)
	for range n {
		m.codes.sem <- struct{}{}
	}
	return func() {
		for range n {
			<-m.codes.sem
		}
	}
}
