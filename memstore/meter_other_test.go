//go:build !unix

package memstore_test

import "testing"

// meter starts and stops the benchmark timer; without getrusage it reports
// no fault or kernel-time figures.
type meter struct {
	b  *testing.B
	on bool
}

func startMeter(b *testing.B) *meter {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	return &meter{b: b, on: true}
}

func (m *meter) stop() {
	if m.on {
		m.b.StopTimer()
		m.on = false
	}
}

func (m *meter) start() {
	if !m.on {
		m.b.StartTimer()
		m.on = true
	}
}

func (m *meter) report() {}
