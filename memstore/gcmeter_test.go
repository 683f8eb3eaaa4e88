package memstore_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

// gcMeter adds up the garbage collector's CPU time over the timed parts of
// a benchmark (runtime/metrics: an estimate the runtime updates as cycles
// end, so it is meaningful over many operations, not one).
type gcMeter struct {
	gc, gc0 float64
	samples []metrics.Sample
}

func (g *gcMeter) read() float64 {
	if g.samples == nil {
		g.samples = []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	}
	metrics.Read(g.samples)
	if g.samples[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return g.samples[0].Value.Float64()
}

func (g *gcMeter) start() { g.gc0 = g.read() }
func (g *gcMeter) stop()  { g.gc += g.read() - g.gc0 }

// report adds gc-ns/op (collector CPU time per operation, in the timed
// parts) and live-MB (the live heap after a collection, the store included).
func (g *gcMeter) report(b *testing.B) {
	b.ReportMetric(g.gc*1e9/float64(b.N), "gc-ns/op")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-MB")
}

// warmHeap grows the heap to the size the collector lets it reach before
// its next cycle and gives that memory back to the heap, so a benchmark
// measures a store whose heap is at its steady-state size, as in a process
// that has run for a while, and not the first touch of fresh pages (which
// BenchmarkFreshPage shows can cost microseconds each on a virtual machine).
//
// At Go's default (GODEBUG madvdontneed=1) the background scavenger soon
// hands the free part of that memory back to the kernel with
// MADV_DONTNEED, and the next allocation there takes a fresh page again.
// With a million invitations stored a cycle lasts long enough for it to
// return most of it, and faults/op shows one allocation in a few faulting.
// GODEBUG=madvdontneed=0 (MADV_FREE: pages stay until the kernel needs the
// memory) keeps the heap warm; it is read at start-up only, so it is set
// on the command line (see the README).
func warmHeap() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var bufs [][]byte
	for n := uint64(0); ms.HeapAlloc+n < ms.NextGC; n += 1 << 20 {
		buf := make([]byte, 1<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1 // fresh memory is not touched by make
		}
		bufs = append(bufs, buf)
	}
	runtime.KeepAlive(bufs)
	bufs = nil
	runtime.GC()
}
