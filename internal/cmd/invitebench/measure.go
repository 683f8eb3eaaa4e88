package main

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

// side is who does the work in a window: the library or the raw baseline.
type side int

const (
	lib side = iota
	raw
)

func (s side) String() string {
	if s == lib {
		return "lib"
	}
	return "raw"
}

// errPoolEmpty ends a worker's window early: every prepared invitation of
// an Accept window has been accepted.
var errPoolEmpty = errors.New("pool exhausted")

// randT is a worker's own random generator.
type randT = rand.Rand

// opFunc runs one operation.
type opFunc func(ctx context.Context, rng *randT) error

// window is one measured window of one side.
type window struct {
	Side      side
	Round     int
	Ops       int
	Elapsed   time.Duration
	OpsPerSec float64
	P50, P99  time.Duration
	// Exhausted is true when an Accept window ran out of prepared
	// invitations before its duration (its rate is still ops/elapsed).
	Exhausted bool
	// ClientCPU is the CPU time this process used in the window, per
	// operation (0 where it cannot be read): the Go side of the cost, the
	// database's being the rest.
	ClientCPU time.Duration
}

// runWindow runs fn from conns workers, for dur, or for exactly ops
// operations when ops > 0, and times every call.
func runWindow(ctx context.Context, conns, ops int, dur time.Duration, fn opFunc) (window, error) {
	var (
		wg        sync.WaitGroup
		issued    atomic.Int64
		exhausted atomic.Bool
		firstErr  error
		errOnce   sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, conns)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(dur)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				if errors.Is(err, errPoolEmpty) {
					exhausted.Store(true)
					return
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				l = append(l, d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	if firstErr != nil {
		return window{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return window{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return window{}, fmt.Errorf("no operation completed in the window")
	}
	slices.Sort(all)
	return window{
		Ops:       len(all),
		Elapsed:   elapsed,
		OpsPerSec: float64(len(all)) / elapsed.Seconds(),
		P50:       percentile(all, 0.50),
		P99:       percentile(all, 0.99),
		Exhausted: exhausted.Load(),
		ClientCPU: cpu / time.Duration(len(all)),
	}, nil
}

// percentile returns the nearest-rank percentile p of the sorted slice s.
func percentile(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
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

// summary is the medians of one side's windows.
type summary struct {
	OpsPerSec      float64
	P50, P99       time.Duration
	ClientCPUPerOp time.Duration
}

func summarize(ws []window) summary {
	var thr, p50, p99, cpu []float64
	for _, w := range ws {
		thr = append(thr, w.OpsPerSec)
		p50 = append(p50, float64(w.P50))
		p99 = append(p99, float64(w.P99))
		cpu = append(cpu, float64(w.ClientCPU))
	}
	return summary{OpsPerSec: median(thr), P50: time.Duration(median(p50)), P99: time.Duration(median(p99)),
		ClientCPUPerOp: time.Duration(median(cpu))}
}
