package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/invitekit/invite/internal/benchwin"
)

// report is a run's outcome.
type report struct {
	cfg config
	Ops []opResult
}

// verdict is the target of one operation.
type verdict struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Pass  bool    `json:"pass"`
}

func (rep *report) verdicts() []verdict {
	vs := []verdict{}
	for _, r := range rep.Ops {
		vs = append(vs, verdict{
			Name:  fmt.Sprintf("%s %s http/direct throughput (conns %d, workers %d)", rep.cfg.store, r.Op, rep.cfg.conns, rep.cfg.workers),
			Value: r.Ratio, Limit: target, Pass: r.Ratio >= target,
		})
		if rep.cfg.bare {
			vs = append(vs, verdict{
				Name:  fmt.Sprintf("%s %s http/bare throughput (conns %d, workers %d)", rep.cfg.store, r.Op, rep.cfg.conns, rep.cfg.workers),
				Value: r.BareRatio, Limit: bareTarget, Pass: r.BareRatio >= bareTarget,
			})
		}
	}
	return vs
}

func (rep *report) print(w io.Writer, verbose bool) {
	cfg := rep.cfg
	mode := "duration " + cfg.duration.String()
	if cfg.ops > 0 {
		mode = strconv.Itoa(cfg.ops) + " ops"
	}
	fmt.Fprintf(w, "httpbench: store=%s conns=%d workers=%d preload=%d %s rounds=%d (windows alternate http/direct; figures are medians of the windows)\n\n",
		cfg.store, cfg.conns, cfg.workers, cfg.preload, mode, cfg.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "op\thttp req/s\tdirect ops/s\thttp/direct\t(rounds)\thttp p50\tdirect p50\thttp p99\tdirect p99\thttp CPU/op\tdirect CPU/op\t")
	for _, r := range rep.Ops {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3fx\t%.2f-%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Op,
			r.HTTP.OpsPerSec, r.Direct.OpsPerSec, r.Ratio, r.PairMin, r.PairMax,
			benchwin.Ms(r.HTTP.P50), benchwin.Ms(r.Direct.P50), benchwin.Ms(r.HTTP.P99), benchwin.Ms(r.Direct.P99),
			benchwin.Us(r.HTTP.CPUPerOp), benchwin.Us(r.Direct.CPUPerOp))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "CPU/op: this process's CPU time per operation (server, client and Manager; not a database server's), steadier than req/s on a shared machine")
	if cfg.bare {
		fmt.Fprintln(w, "\nbare: a minimal hand-written net/http handler making the same Manager calls (http/bare: the adapter's own cost)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "op\tbare req/s\tbare/direct\thttp/bare\t(rounds)\tbare p50\tbare p99\tbare CPU/op\t")
		for _, r := range rep.Ops {
			fmt.Fprintf(tw, "%s\t%.0f\t%.3fx\t%.3fx\t%.2f-%.2f\t%s\t%s\t%s\t\n", r.Op, r.Bare.OpsPerSec,
				r.Bare.OpsPerSec/r.Direct.OpsPerSec, r.BareRatio, r.BareMin, r.BareMax, benchwin.Ms(r.Bare.P50), benchwin.Ms(r.Bare.P99),
				benchwin.Us(r.Bare.CPUPerOp))
		}
		_ = tw.Flush()
	}
	if cfg.floor {
		fmt.Fprintln(w, "\nfloor: the adapter's recorded answers replayed with no work behind them: one HTTP exchange of the same bytes (server, loopback and client)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "op\tfloor req/s\tfloor p50\tfloor CPU/op\tdirect CPU/op\tfloor/direct CPU\t")
		for _, r := range rep.Ops {
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.2fx\t\n", r.Op, r.Floor.OpsPerSec, benchwin.Ms(r.Floor.P50),
				benchwin.Us(r.Floor.CPUPerOp), benchwin.Us(r.Direct.CPUPerOp), r.floorCPU())
		}
		_ = tw.Flush()
	}
	if verbose {
		fmt.Fprintln(w)
		for _, r := range rep.Ops {
			bare := ""
			if cfg.bare {
				bare = ", bare " + benchwin.Us(r.Bare.CPUPerOp)
			}
			fmt.Fprintf(w, "%-6s CPU per op (the whole process, median of the windows): http %s, direct %s%s\n", r.Op,
				benchwin.Us(r.HTTP.CPUPerOp), benchwin.Us(r.Direct.CPUPerOp), bare)
			for _, win := range r.Windows {
				fmt.Fprintf(w, "  %-6s %-6s round %d: %d ops in %s, %.0f ops/s, p50 %s, p99 %s, CPU %s/op, pool ran out: %v\n", r.Op, win.Side, win.Round,
					win.Ops, win.Elapsed.Round(time.Millisecond), win.OpsPerSec, benchwin.Ms(win.P50), benchwin.Ms(win.P99), benchwin.Us(win.CPU), win.Exhausted)
			}
		}
	}
	fmt.Fprintln(w)
	for _, v := range rep.verdicts() {
		s := "FAIL"
		if v.Pass {
			s = "PASS"
		}
		fmt.Fprintf(w, "%s  %s: %.3f >= %.2f\n", s, v.Name, v.Value, v.Limit)
	}
}

// JSON output: durations in microseconds.

type jsonSide struct {
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	CPUus     float64 `json:"cpu_us_per_op"`
}

type jsonWindow struct {
	Side      string  `json:"side"`
	Round     int     `json:"round"`
	Ops       int     `json:"ops"`
	ElapsedMS float64 `json:"elapsed_ms"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	CPUus     float64 `json:"cpu_us_per_op"`
	Exhausted bool    `json:"pool_exhausted,omitempty"`
}

type jsonOp struct {
	Op            string   `json:"op"`
	HTTP          jsonSide `json:"http"`
	Direct        jsonSide `json:"direct"`
	Ratio         float64  `json:"throughput_ratio"`
	RoundRatioMin float64  `json:"round_throughput_ratio_min"`
	RoundRatioMax float64  `json:"round_throughput_ratio_max"`
	// With -bare: the hand-written handler, and http/bare.
	Bare         *jsonSide `json:"bare,omitempty"`
	BareRatio    float64   `json:"http_bare_ratio,omitempty"`
	BareRatioMin float64   `json:"round_http_bare_ratio_min,omitempty"`
	BareRatioMax float64   `json:"round_http_bare_ratio_max,omitempty"`
	// With -floor: the replaying handler, and its CPU time per exchange
	// over the direct call's per operation.
	Floor    *jsonSide    `json:"floor,omitempty"`
	FloorCPU float64      `json:"floor_direct_cpu_ratio,omitempty"`
	Windows  []jsonWindow `json:"windows"`
}

type jsonReport struct {
	Store      string    `json:"store"`
	Conns      int       `json:"conns"`
	Workers    int       `json:"workers"`
	Preload    int       `json:"preload"`
	DurationMS float64   `json:"duration_ms,omitempty"`
	Ops        int       `json:"ops_per_window,omitempty"`
	Rounds     int       `json:"rounds"`
	Results    []jsonOp  `json:"results"`
	Targets    []verdict `json:"targets"`
	Pass       bool      `json:"pass"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func jsonSideOf(s summary) jsonSide {
	return jsonSide{OpsPerSec: s.OpsPerSec, P50us: us(s.P50), P99us: us(s.P99), CPUus: us(s.CPUPerOp)}
}

func (rep *report) toJSON() jsonReport {
	cfg := rep.cfg
	out := jsonReport{Store: cfg.store, Conns: cfg.conns, Workers: cfg.workers, Preload: cfg.preload,
		Ops: cfg.ops, Rounds: cfg.rounds, Results: []jsonOp{}, Targets: rep.verdicts(), Pass: true}
	if cfg.ops == 0 {
		out.DurationMS = float64(cfg.duration) / float64(time.Millisecond)
	}
	for _, v := range out.Targets {
		out.Pass = out.Pass && v.Pass
	}
	for _, r := range rep.Ops {
		jo := jsonOp{Op: r.Op, HTTP: jsonSideOf(r.HTTP), Direct: jsonSideOf(r.Direct),
			Ratio: r.Ratio, RoundRatioMin: r.PairMin, RoundRatioMax: r.PairMax}
		if cfg.bare {
			b := jsonSideOf(r.Bare)
			jo.Bare, jo.BareRatio, jo.BareRatioMin, jo.BareRatioMax = &b, r.BareRatio, r.BareMin, r.BareMax
		}
		if cfg.floor {
			f := jsonSideOf(r.Floor)
			jo.Floor, jo.FloorCPU = &f, r.floorCPU()
		}
		for _, w := range r.Windows {
			jo.Windows = append(jo.Windows, jsonWindow{Side: w.Side.String(), Round: w.Round, Ops: w.Ops,
				ElapsedMS: float64(w.Elapsed) / float64(time.Millisecond), OpsPerSec: w.OpsPerSec,
				P50us: us(w.P50), P99us: us(w.P99), CPUus: us(w.CPU), Exhausted: w.Exhausted})
		}
		out.Results = append(out.Results, jo)
	}
	return out
}

// floorCPU is the floor's CPU time per exchange over the direct call's
// per operation (0 when either is unknown).
func (r *opResult) floorCPU() float64 {
	if r.Floor.CPUPerOp <= 0 || r.Direct.CPUPerOp <= 0 {
		return 0
	}
	return float64(r.Floor.CPUPerOp) / float64(r.Direct.CPUPerOp)
}
