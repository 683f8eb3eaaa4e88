// Package benchwin times the windows of the repository's benchmark
// programs (internal/cmd/invitebench, internal/cmd/httpbench): workers
// running one operation for a duration or a count, the latency of every
// call, the process's CPU time, and the medians over windows.
package benchwin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPoolEmpty, returned by an Op, ends its worker's window early without
// failing it: the operation has nothing left to work on (every prepared
// invitation of an accept window was accepted). The window is Exhausted.
var ErrPoolEmpty = errors.New("pool exhausted")

// Rand is a worker's own random generator.
type Rand = rand.Rand

// Op runs one operation.
type Op func(ctx context.Context, rng *Rand) error

// Window is one measured window.
type Window struct {
	Ops       int
	Elapsed   time.Duration
	OpsPerSec float64
	P50, P99  time.Duration
	// Exhausted is true when the operation ran out of work before the
	// window's duration (ErrPoolEmpty; the rate is still ops/elapsed).
	Exhausted bool
	// CPU is the CPU time this process used in the window, per operation
	// (0 where it cannot be read).
	CPU time.Duration
}

// Run runs fn from workers goroutines, for dur, or for exactly ops
// operations when ops > 0, and times every call. The first error other
// than ErrPoolEmpty ends the window and is returned.
func Run(ctx context.Context, workers, ops int, dur time.Duration, fn Op) (Window, error) {
	var (
		wg        sync.WaitGroup
		issued    atomic.Int64
		exhausted atomic.Bool
		firstErr  error
		errOnce   sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, workers)
	cpu0 := ProcessCPU()
	start := time.Now()
	deadline := start.Add(dur)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			l := make([]time.Duration, 0, 4096)
			defer func() { lats[w] = l }()
			for ctx.Err() == nil {
				if ops > 0 {
					if issued.Add(1) > int64(ops) {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				t0 := time.Now()
				err := fn(ctx, rng)
				d := time.Since(t0)
				if errors.Is(err, ErrPoolEmpty) {
					exhausted.Store(true)
					return
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				l = append(l, d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := ProcessCPU() - cpu0
	if firstErr != nil {
		return Window{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Window{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return Window{}, fmt.Errorf("no operation completed in the window")
	}
	slices.Sort(all)
	return Window{
		Ops:       len(all),
		Elapsed:   elapsed,
		OpsPerSec: float64(len(all)) / elapsed.Seconds(),
		P50:       Percentile(all, 0.50),
		P99:       Percentile(all, 0.99),
		Exhausted: exhausted.Load(),
		CPU:       cpu / time.Duration(len(all)),
	}, nil
}

// Percentile returns the nearest-rank percentile p of the sorted slice s.
func Percentile(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Median returns the median of xs (the mean of the middle two for an even
// count; 0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Summary is the medians of windows.
type Summary struct {
	OpsPerSec float64
	P50, P99  time.Duration
	CPUPerOp  time.Duration
}

// Summarize returns the medians of ws.
func Summarize(ws []Window) Summary {
	var thr, p50, p99, cpu []float64
	for _, w := range ws {
		thr = append(thr, w.OpsPerSec)
		p50 = append(p50, float64(w.P50))
		p99 = append(p99, float64(w.P99))
		cpu = append(cpu, float64(w.CPU))
	}
	return Summary{OpsPerSec: Median(thr), P50: time.Duration(Median(p50)), P99: time.Duration(Median(p99)),
		CPUPerOp: time.Duration(Median(cpu))}
}
