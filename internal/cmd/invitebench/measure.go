package main

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
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
var errPoolEmpty = benchwin.ErrPoolEmpty

// randT is a worker's own random generator.
type randT = benchwin.Rand

// opFunc runs one operation.
type opFunc = benchwin.Op

// window is one measured window of one side.
type window = benchwin.Sided[side]

// summary is the medians of one side's windows.
type summary = benchwin.Summary

// opFunc returns the operation's function for s, and, for Accept, the
// function that prepares a window of about the given length.
func (b *bench) opFunc(op string, s side) (opFunc, func(ctx context.Context, d time.Duration, ops int) error) {
	switch op {
	case "create":
		return func(ctx context.Context, _ *randT) error {
			seq := b.seq.Add(1)
			tenant, email := b.tenant(s, seq), b.email("u", seq)
			var err error
			if s == lib {
				_, err = b.m.Create(ctx, createInput(tenant, email))
			} else {
				_, err = b.raw.create(ctx, tenant, email)
			}
			if err == nil {
				b.rows.Add(1)
			}
			return err
		}, nil
	case "lookup":
		return func(ctx context.Context, rng *randT) error {
			tok := b.tokens[rng.IntN(len(b.tokens))]
			if s == lib {
				_, err := b.m.Lookup(ctx, tok)
				return err
			}
			_, err := b.raw.find(ctx, tok)
			return err
		}, nil
	}
	// accept
	var (
		pool []string
		next atomic.Int64
	)
	prepare := func(ctx context.Context, d time.Duration, ops int) error {
		n := ops
		if n == 0 {
			// Enough for the estimated rate, with a margin; a window
			// that runs out ends early.
			n = int(b.acceptRate[s]*1.5*d.Seconds()) + 100
		}
		toks, err := b.bulkInsert(ctx, n, "a", func(seq int64) string { return b.tenant(s, seq) })
		if err != nil {
			return fmt.Errorf("accept pool: %w", err)
		}
		pool = toks
		next.Store(0)
		return nil
	}
	in := invite.AcceptInput{Subject: "subject-1"}
	return func(ctx context.Context, _ *randT) error {
		i := next.Add(1) - 1
		if i >= int64(len(pool)) {
			return errPoolEmpty
		}
		if s == lib {
			_, err := b.m.Accept(ctx, pool[i], in)
			return err
		}
		return b.raw.accept(ctx, pool[i], in.Subject)
	}, prepare
}

func (b *bench) measureOp(ctx context.Context, op string) (opResult, error) {
	if op == "deliver" {
		return b.measureDeliver(ctx)
	}
	res := opResult{Op: op, RowsAtStart: b.rows.Load()}
	var fns [2]opFunc
	var preps [2]func(context.Context, time.Duration, int) error
	for _, s := range []side{lib, raw} {
		if op == "create-send" {
			var err error
			if fns[s], err = b.createSendFunc(s); err != nil {
				return res, err
			}
		} else {
			fns[s], preps[s] = b.opFunc(op, s)
		}
		if b.acceptRate[s] == 0 {
			b.acceptRate[s] = 1000
		}
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
			w, err = benchwin.RunSide(ctx, s, b.cfg.conns, ops, d, fns[s])
		})
		if err != nil {
			return w, fmt.Errorf("%s: %w", s, err)
		}
		if op == "accept" {
			b.acceptRate[s] = w.OpsPerSec
		}
		return w, nil
	}
	for _, s := range []side{lib, raw} {
		warmOps := 0
		if b.cfg.ops > 0 {
			warmOps = max(b.cfg.ops/10, 50)
		}
		w, err := run(s, b.cfg.warmup, warmOps)
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		b.logf("%-6s %s warm-up: %.0f ops/s p50 %s", op, s, w.OpsPerSec, benchwin.Ms(w.P50))
	}
	var pairs []float64
	for r := range b.cfg.rounds {
		order := []side{lib, raw}
		if r%2 == 1 {
			order = []side{raw, lib}
		}
		var thr [2]float64
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
			b.logf("%-6s %s round %d: %d ops in %s, %.0f ops/s, p50 %s, p99 %s, client CPU %s/op%s", op, s, r+1, w.Ops,
				w.Elapsed.Round(time.Millisecond), w.OpsPerSec, benchwin.Ms(w.P50), benchwin.Ms(w.P99), benchwin.Us(w.CPU), ex)
		}
		pairs = append(pairs, thr[lib]/thr[raw])
	}
	var ws [2][]window
	for _, w := range res.Windows {
		ws[w.Side] = append(ws[w.Side], w)
	}
	res.Lib, res.Raw = benchwin.SummarizeSide(ws[lib]), benchwin.SummarizeSide(ws[raw])
	res.ThrRatio = res.Lib.OpsPerSec / res.Raw.OpsPerSec
	res.P50Ratio = float64(res.Lib.P50) / float64(res.Raw.P50)
	res.PairMin, res.PairMax = slices.Min(pairs), slices.Max(pairs)
	return res, nil
}
