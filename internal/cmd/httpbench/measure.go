package main

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/invitekit/invite/internal/benchwin"
)

// side is who serves a window: the handler over HTTP, the Manager called
// directly, (with -bare) a minimal hand-written handler over HTTP, or
// (with -floor) a handler replaying recorded answers over HTTP.
type side int

const (
	httpSide side = iota
	direct
	bare
	floor
	nSides
)

func (s side) String() string {
	return [...]string{"http", "direct", "bare", "floor"}[s]
}

// randT is a worker's own random generator.
type randT = benchwin.Rand

// opFunc runs one operation.
type opFunc = benchwin.Op

// window is one measured window of one side.
type window = benchwin.Sided[side]

// summary is the medians of one side's windows.
type summary = benchwin.Summary

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
	// Floor is the floor side's medians (with -floor).
	Floor summary
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
			w, err = benchwin.RunSide(ctx, s, b.cfg.workers, ops, d, fns[s])
		})
		if err != nil {
			return w, fmt.Errorf("%s: %w", s, err)
		}
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
		b.logf("%-6s %-6s warm-up: %.0f ops/s p99 %s", op, s, w.OpsPerSec, benchwin.Ms(w.P99))
	}
	var pairs, barePairs []float64
	for r := range b.cfg.rounds {
		// Rotate the order: http direct, direct http, ... (with -bare:
		// http direct bare, direct bare http, bare http direct, ...; and
		// so on with -floor).
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
				w.Elapsed.Round(time.Millisecond), w.OpsPerSec, benchwin.Ms(w.P50), benchwin.Ms(w.P99), benchwin.Us(w.CPU), ex)
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
	res.HTTP, res.Direct = benchwin.SummarizeSide(ws[httpSide]), benchwin.SummarizeSide(ws[direct])
	res.Ratio = res.HTTP.OpsPerSec / res.Direct.OpsPerSec
	res.PairMin, res.PairMax = slices.Min(pairs), slices.Max(pairs)
	if b.cfg.bare {
		res.Bare = benchwin.SummarizeSide(ws[bare])
		res.BareRatio = res.HTTP.OpsPerSec / res.Bare.OpsPerSec
		res.BareMin, res.BareMax = slices.Min(barePairs), slices.Max(barePairs)
	}
	if b.cfg.floor {
		res.Floor = benchwin.SummarizeSide(ws[floor])
	}
	return res, nil
}
