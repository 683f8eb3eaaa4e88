//go:build !unix

package memstore_test

import "testing"

// meter starts and stops the benchmark timer and adds up the collector's
// CPU time; without getrusage it reports no fault or kernel-time figures.
type meter struct {
	b  *testing.B
	on bool
	gc gcMeter
}

func startMeter(b *testing.B) *meter {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	m := &meter{b: b, on: true}
	m.gc.start()
	return m
}

func (m *meter) stop() {
	if m.on {
		m.b.StopTimer()
		m.gc.stop()
		m.on = false
	}
}

func (m *meter) start() {
	if !m.on {
		m.gc.start()
		m.b.StartTimer()
		m.on = true
	}
}

func (m *meter) report() { m.gc.report(m.b) }
