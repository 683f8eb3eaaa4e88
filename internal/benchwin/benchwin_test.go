package benchwin

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var n atomic.Int64
	w, err := Run(t.Context(), 4, 100, time.Hour, func(context.Context, *Rand) error { n.Add(1); return nil })
	require.NoError(t, err)
	require.Equal(t, 100, w.Ops, "exactly ops operations")
	require.EqualValues(t, 100, n.Load())
	require.False(t, w.Exhausted)

	n.Store(0)
	w, err = Run(t.Context(), 2, 0, time.Hour, func(context.Context, *Rand) error {
		if n.Add(1) > 10 {
			return ErrPoolEmpty
		}
		return nil
	})
	require.NoError(t, err)
	require.True(t, w.Exhausted)
	require.Equal(t, 10, w.Ops)

	boom := errors.New("boom")
	_, err = Run(t.Context(), 2, 0, time.Hour, func(context.Context, *Rand) error { return boom })
	require.ErrorIs(t, err, boom)
}

func TestStatistics(t *testing.T) {
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, Median([]float64{5, 3, 1}))
	require.Zero(t, Median(nil))
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(5), Percentile(s, 0.5))
	require.Equal(t, time.Duration(10), Percentile(s, 0.99))
	sum := Summarize([]Window{{OpsPerSec: 1, P50: 1}, {OpsPerSec: 3, P50: 3}, {OpsPerSec: 2, P50: 2}})
	require.Equal(t, 2.0, sum.OpsPerSec)
	require.Equal(t, time.Duration(2), sum.P50)
}

func TestParseOps(t *testing.T) {
	all := []string{"lookup", "accept", "create"}
	for _, c := range []struct {
		list string
		want []string
		bad  bool
	}{
		{"create, lookup", []string{"lookup", "create"}, false},
		{"accept,accept", []string{"accept"}, false},
		{"lookup,delete", nil, true},
		{"", nil, true},
	} {
		got, err := ParseOps(c.list, all)
		if c.bad {
			require.Error(t, err, c.list)
			continue
		}
		require.NoError(t, err, c.list)
		require.Equal(t, c.want, got, c.list)
	}
	require.Equal(t, "42us", Us(42*time.Microsecond+400))
	require.Equal(t, "1.235ms", Ms(1234567*time.Nanosecond))
}

func TestChunks(t *testing.T) {
	var seen [50]atomic.Int32
	require.NoError(t, Chunks(t.Context(), len(seen), 3, func(_ context.Context, c int) error {
		seen[c].Add(1)
		return nil
	}))
	for c := range seen {
		require.EqualValues(t, 1, seen[c].Load(), "chunk %d", c)
	}
	boom := errors.New("boom")
	var ran atomic.Int32
	err := Chunks(t.Context(), 1000, 2, func(_ context.Context, c int) error {
		ran.Add(1)
		if c == 3 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Less(t, ran.Load(), int32(1000), "the chunks after the error are not run")
}
