package main

// The window runner and its statistics are invitebench's (measure.go in
// internal/cmd/invitebench, a main package that cannot be imported),
// copied with its sides renamed.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// side is who serves a window: the handler over HTTP, the Manager called
// directly, or (with -bare) a minimal hand-written handler over HTTP.
type side int

const (
	httpSide side = iota
	direct
	bare
	nSides
)

func (s side) String() string {
	return [...]string{"http", "direct", "bare"}[s]
}

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
	// Exhausted is true when an accept window ran out of prepared
	// invitations before its duration (its rate is still ops/elapsed).
	Exhausted bool
	// CPU is the CPU time this process (server, client and Manager) used
	// in the window, per operation; 0 where it cannot be read.
	CPU time.Duration
}

// runWindow runs fn from workers goroutines, for dur, or for exactly ops
// operations when ops > 0, and times every call.
func runWindow(ctx context.Context, workers, ops int, dur time.Duration, fn opFunc) (window, error) {
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
	cpu0 := processCPU()
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
		})
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
		CPU:       cpu / time.Duration(len(all)),
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
	OpsPerSec float64
	P50, P99  time.Duration
	CPUPerOp  time.Duration
}

func summarize(ws []window) summary {
	var thr, p50, p99, cpu []float64
	for _, w := range ws {
		thr = append(thr, w.OpsPerSec)
		p50 = append(p50, float64(w.P50))
		p99 = append(p99, float64(w.P99))
		cpu = append(cpu, float64(w.CPU))
	}
	return summary{OpsPerSec: median(thr), P50: time.Duration(median(p50)), P99: time.Duration(median(p99)),
		CPUPerOp: time.Duration(median(cpu))}
}

// opResult is the outcome of one operation.
type opResult struct {
	Op                 string
	Windows            []window
	HTTP, Direct, Bare summary
	// Ratio is http/direct of the median throughputs; PairMin and
	// PairMax bound the per-round ratios.
	Ratio, PairMin, PairMax float64
	// BareRatio is http/bare of the median throughputs (0 without
	// -bare), BareMin and BareMax the range of the per-round ratios.
	BareRatio, BareMin, BareMax float64
}

// measureOp warms both sides up, then runs cfg.rounds alternating pairs
// of windows.
func (b *bench) measureOp(ctx context.Context, op string) (opResult, error) {
	res := opResult{Op: op}
	var fns [nSides]opFunc
	var preps [nSides]func(context.Context, time.Duration, int) error
	for _, s := range b.sides {
		fns[s], preps[s] = b.opFunc(op, s)
	}
	run := func(s side, d time.Duration, ops int) (window, error) {
		if preps[s] != nil {
			if err := preps[s](ctx, d, ops); err != nil {
				return window{}, err
			}
		}
		var w window
		var err error
		pprof.Do(ctx, pprof.Labels("op", op, "side", s.String()), func(ctx context.Context) {
			w, err = runWindow(ctx, b.cfg.workers, ops, d, fns[s])
		})
		if err != nil {
			return w, fmt.Errorf("%s: %w", s, err)
		}
		w.Side = s
		if op == "accept" {
			b.acceptRate = max(b.acceptRate, w.OpsPerSec)
		}
		return w, nil
	}
	for _, s := range b.sides {
		warmOps := 0
		if b.cfg.ops > 0 {
			warmOps = max(b.cfg.ops/10, 10)
		}
		w, err := run(s, b.cfg.warmup, warmOps)
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		b.logf("%-6s %-6s warm-up: %.0f ops/s p99 %s", op, s, w.OpsPerSec, fmtDur(w.P99))
	}
	var pairs, barePairs []float64
	for r := range b.cfg.rounds {
		// Rotate the order: http direct, direct http, ... (with -bare:
		// http direct bare, direct bare http, bare http direct, ...).
		n := len(b.sides)
		order := append(slices.Clone(b.sides[r%n:]), b.sides[:r%n]...)
		var thr [nSides]float64
		for _, s := range order {
			w, err := run(s, b.cfg.duration, b.cfg.ops)
			if err != nil {
				return res, err
			}
			w.Round = r + 1
			thr[s] = w.OpsPerSec
			res.Windows = append(res.Windows, w)
			ex := ""
			if w.Exhausted {
				ex = " (pool ran out)"
			}
			b.logf("%-6s %-6s round %d: %d ops in %s, %.0f ops/s, p50 %s, p99 %s, CPU %s/op%s", op, s, r+1, w.Ops,
				w.Elapsed.Round(time.Millisecond), w.OpsPerSec, fmtDur(w.P50), fmtDur(w.P99), fmtUs(w.CPU), ex)
		}
		pairs = append(pairs, thr[httpSide]/thr[direct])
		if b.cfg.bare {
			barePairs = append(barePairs, thr[httpSide]/thr[bare])
		}
	}
	var ws [nSides][]window
	for _, w := range res.Windows {
		ws[w.Side] = append(ws[w.Side], w)
	}
	res.HTTP, res.Direct = summarize(ws[httpSide]), summarize(ws[direct])
	res.Ratio = res.HTTP.OpsPerSec / res.Direct.OpsPerSec
	res.PairMin, res.PairMax = slices.Min(pairs), slices.Max(pairs)
	if b.cfg.bare {
		res.Bare = summarize(ws[bare])
		res.BareRatio = res.HTTP.OpsPerSec / res.Bare.OpsPerSec
		res.BareMin, res.BareMax = slices.Min(barePairs), slices.Max(barePairs)
	}
	return res, nil
}
