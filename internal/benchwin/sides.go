package benchwin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sided is a measured window of one side of a comparison (the library or
// the raw baseline, HTTP or direct calls), in one round.
type Sided[S any] struct {
	Side  S
	Round int
	Window
}

// RunSide is Run for side s.
func RunSide[S any](ctx context.Context, s S, workers, ops int, dur time.Duration, fn Op) (Sided[S], error) {
	w, err := Run(ctx, workers, ops, dur, fn)
	return Sided[S]{Side: s, Window: w}, err
}

// SummarizeSide returns the medians of ws (Summarize).
func SummarizeSide[S any](ws []Sided[S]) Summary {
	bw := make([]Window, len(ws))
	for i, w := range ws {
		bw[i] = w.Window
	}
	return Summarize(bw)
}

// ParseOps reads a comma-separated list of operations, each one of all
// (white space around them ignored), and returns them in all's order,
// without repeats.
func ParseOps(list string, all []string) ([]string, error) {
	var ops []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(all, f) {
			return nil, fmt.Errorf("%q is not one of %v", f, all)
		}
		ops = append(ops, f)
	}
	return slices.DeleteFunc(slices.Clone(all), func(op string) bool { return !slices.Contains(ops, op) }), nil
}

// Us formats d in whole microseconds ("42us").
func Us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "us"
}

// Ms formats d in milliseconds to the microsecond ("1.234ms").
func Ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
}

// Chunks runs fn for the chunks 0 to chunks-1 from par goroutines (at
// least one), each taking the next chunk not taken yet, and returns the
// first error of fn (the chunks not started by then are not run) or
// ctx's.
func Chunks(ctx context.Context, chunks, par int, fn func(ctx context.Context, chunk int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range max(par, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				if err := fn(ctx, c); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
