//go:build unix

package memstore_test

import (
	"syscall"
	"testing"
)

// meter starts and stops the benchmark timer and adds up, over the timed
// parts, the process's minor page faults, kernel CPU time and collector
// CPU time.
type meter struct {
	b             *testing.B
	on            bool
	faults, sys   int64
	faults0, sys0 int64
	gc            gcMeter
}

func usage() (faults, sysNs int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return int64(ru.Minflt), ru.Stime.Nano()
}

// startMeter resets the timer and starts timing.
func startMeter(b *testing.B) *meter {
	b.Helper()
	b.ReportAllocs()
	m := &meter{b: b}
	b.ResetTimer()
	m.faults0, m.sys0 = usage()
	m.gc.start()
	m.on = true
	return m
}

func (m *meter) stop() {
	if !m.on {
		return
	}
	m.b.StopTimer()
	m.gc.stop()
	f, s := usage()
	m.faults += f - m.faults0
	m.sys += s - m.sys0
	m.on = false
}

func (m *meter) start() {
	if m.on {
		return
	}
	m.faults0, m.sys0 = usage()
	m.gc.start()
	m.b.StartTimer()
	m.on = true
}

// report adds faults/op, sys-ns/op, gc-ns/op and live-MB to the result;
// call it after stop.
func (m *meter) report() {
	n := float64(m.b.N)
	m.b.ReportMetric(float64(m.faults)/n, "faults/op")
	m.b.ReportMetric(float64(m.sys)/n, "sys-ns/op")
	m.gc.report(m.b)
}
