package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/invitekit/invite/internal/benchwin"
	"github.com/invitekit/invite/sqlstore"
)

type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Max   bool    `json:"is_max"` // Value must be <= Limit (else >=)
	Pass  bool    `json:"pass"`
	Note  string  `json:"note,omitempty"`
}

func (rep *report) find(size int, op string) *opResult {
	for i := range rep.Sizes {
		if rep.Sizes[i].Preload != size {
			continue
		}
		for j := range rep.Sizes[i].Ops {
			if rep.Sizes[i].Ops[j].Op == op {
				return &rep.Sizes[i].Ops[j]
			}
		}
	}
	return nil
}

func (rep *report) targets() []target {
	ts := []target{}
	cfg := rep.cfg
	limit := map[string]float64{"postgres": 0.9, "sqlite": 0.8}[cfg.store]
	if limit > 0 {
		note := ""
		if cfg.store == "postgres" && cfg.conns != 16 {
			note = "target defined at 16 connections; measured at " + strconv.Itoa(cfg.conns)
		}
		for _, sr := range rep.Sizes {
			for _, op := range []string{"create", "accept"} {
				if r := rep.find(sr.Preload, op); r != nil {
					ts = append(ts, target{Name: fmt.Sprintf("%s %s lib/raw throughput (conns %d, preload %d)", cfg.store, op, cfg.conns, sr.Preload),
						Value: r.ThrRatio, Limit: limit, Pass: r.ThrRatio >= limit, Note: note})
				}
			}
		}
	}
	if len(rep.Sizes) > 1 {
		lo, hi := rep.Sizes[0].Preload, rep.Sizes[len(rep.Sizes)-1].Preload
		for _, op := range []string{"lookup", "accept"} {
			a, z := rep.find(lo, op), rep.find(hi, op)
			if a == nil || z == nil {
				continue
			}
			v := float64(z.Lib.P50) / float64(a.Lib.P50)
			ts = append(ts, target{Name: fmt.Sprintf("%s library p50 at preload %d / at %d", op, hi, lo),
				Value: v, Limit: 1.3, Max: true, Pass: v <= 1.3})
		}
	}
	return append(ts, rep.deliveryTargets()...)
}

func (rep *report) print(w io.Writer, verbose bool) {
	cfg := rep.cfg
	mode := "duration " + cfg.duration.String()
	if cfg.ops > 0 {
		mode = strconv.Itoa(cfg.ops) + " ops"
	}
	fmt.Fprintf(w, "invitebench: store=%s conns=%d %s rounds=%d (windows alternate lib/raw; figures are medians of the windows)\n",
		cfg.store, cfg.conns, mode, cfg.rounds)
	for _, sr := range rep.Sizes {
		fmt.Fprintf(w, "\npreload %d\n", sr.Preload)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "op\tstored\tlib ops/s\traw ops/s\tthr lib/raw\t(rounds)\tlib p50\traw p50\tp50 lib/raw\tlib p99\traw p99\t")
		legend := false
		for _, r := range sr.Ops {
			if r.Op == "deliver" {
				// Drained batches: no per-operation latency.
				legend = true
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.3fx\t%.2f-%.2f\t-\t-\t-\t-\t-\t\n", r.Op, r.RowsAtStart,
					r.Lib.OpsPerSec, r.Raw.OpsPerSec, r.ThrRatio, r.PairMin, r.PairMax)
				continue
			}
			legend = legend || r.Op == "create-send"
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.3fx\t%.2f-%.2f\t%s\t%s\t%.3fx\t%s\t%s\t\n", r.Op, r.RowsAtStart,
				r.Lib.OpsPerSec, r.Raw.OpsPerSec, r.ThrRatio, r.PairMin, r.PairMax,
				benchwin.Ms(r.Lib.P50), benchwin.Ms(r.Raw.P50), r.P50Ratio, benchwin.Ms(r.Lib.P99), benchwin.Ms(r.Raw.P99))
		}
		_ = tw.Flush()
		if legend {
			fmt.Fprintln(w, "create-send: lib = Create(DeliverySend) on the store with its outbox, raw = the same on the store without it (inline)")
			fmt.Fprintf(w, "deliver: ops/s = records/s draining %d queued messages; lib = Dispatcher.Drain, raw = the hand-written claim/ack loop\n", cfg.deliverN)
		}
		if verbose {
			for _, r := range sr.Ops {
				fmt.Fprintf(w, "  %-6s client CPU per op (median of the windows): lib %s, raw %s\n", r.Op,
					benchwin.Us(r.Lib.CPUPerOp), benchwin.Us(r.Raw.CPUPerOp))
				for _, win := range r.Windows {
					fmt.Fprintf(w, "  %-6s %s round %d: %d ops in %s, %.0f ops/s, p50 %s, p99 %s, client CPU %s/op, pool ran out: %v\n", r.Op, win.Side, win.Round,
						win.Ops, win.Elapsed.Round(time.Millisecond), win.OpsPerSec, benchwin.Ms(win.P50), benchwin.Ms(win.P99), benchwin.Us(win.CPU), win.Exhausted)
				}
			}
		}
	}
	if len(rep.Sizes) > 1 {
		lo, hi := rep.Sizes[0].Preload, rep.Sizes[len(rep.Sizes)-1].Preload
		fmt.Fprintf(w, "\np50 at preload %d vs %d\n", hi, lo)
		for _, op := range allOps {
			a, z := rep.find(lo, op), rep.find(hi, op)
			if a == nil || z == nil {
				continue
			}
			fmt.Fprintf(w, "%-7s lib %s -> %s (%.3fx)   raw %s -> %s (%.3fx)\n", op,
				benchwin.Ms(a.Lib.P50), benchwin.Ms(z.Lib.P50), float64(z.Lib.P50)/float64(a.Lib.P50),
				benchwin.Ms(a.Raw.P50), benchwin.Ms(z.Raw.P50), float64(z.Raw.P50)/float64(a.Raw.P50))
		}
	}
	if len(rep.RowCheck) > 0 {
		fmt.Fprintln(w, "\nrows written (library tenants lib-*, baseline tenants raw-*)")
		for _, l := range rep.RowCheck {
			fmt.Fprintln(w, l)
		}
	}
	fmt.Fprintln(w)
	ts := rep.targets()
	if len(ts) == 0 {
		fmt.Fprintf(w, "no targets defined for %s\n", cfg.store)
	}
	for _, t := range ts {
		verdict, cmp := "FAIL", ">="
		if t.Pass {
			verdict = "PASS"
		}
		if t.Max {
			cmp = "<="
		}
		note := ""
		if t.Note != "" {
			note = " (" + t.Note + ")"
		}
		fmt.Fprintf(w, "%s  %s: %.3f %s %.2f%s\n", verdict, t.Name, t.Value, cmp, t.Limit, note)
	}
}

// JSON output: durations in microseconds.

type jsonSide struct {
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	ClientCPUus float64 `json:"client_cpu_us_per_op"`
}

type jsonWindow struct {
	Side      string  `json:"side"`
	Round     int     `json:"round"`
	Ops       int     `json:"ops"`
	ElapsedMS float64 `json:"elapsed_ms"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	ClientCPU float64 `json:"client_cpu_us_per_op"`
	Exhausted bool    `json:"pool_exhausted,omitempty"`
}

type jsonOp struct {
	Op              string       `json:"op"`
	RowsAtStart     int64        `json:"stored_at_start"`
	Lib             jsonSide     `json:"lib"`
	Raw             jsonSide     `json:"raw"`
	ThroughputRatio float64      `json:"throughput_ratio"`
	P50Ratio        float64      `json:"p50_ratio"`
	RoundRatioMin   float64      `json:"round_throughput_ratio_min"`
	RoundRatioMax   float64      `json:"round_throughput_ratio_max"`
	Windows         []jsonWindow `json:"windows"`
}

type jsonSize struct {
	Preload int      `json:"preload"`
	Ops     []jsonOp `json:"ops"`
}

type jsonReport struct {
	Store      string     `json:"store"`
	Conns      int        `json:"conns"`
	DurationMS float64    `json:"duration_ms,omitempty"`
	Ops        int        `json:"ops_per_window,omitempty"`
	Rounds     int        `json:"rounds"`
	Prefix     string     `json:"prefix"`
	Sizes      []jsonSize `json:"sizes"`
	Targets    []target   `json:"targets"`
	RowCheck   []string   `json:"row_check,omitempty"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (rep *report) toJSON() jsonReport {
	cfg := rep.cfg
	out := jsonReport{Store: cfg.store, Conns: cfg.conns, Ops: cfg.ops, Rounds: cfg.rounds, Prefix: cfg.prefix,
		Targets: rep.targets(), RowCheck: rep.RowCheck}
	if cfg.ops == 0 {
		out.DurationMS = float64(cfg.duration) / float64(time.Millisecond)
	}
	for _, sr := range rep.Sizes {
		js := jsonSize{Preload: sr.Preload}
		for _, r := range sr.Ops {
			jo := jsonOp{Op: r.Op, RowsAtStart: r.RowsAtStart,
				Lib:             jsonSide{r.Lib.OpsPerSec, us(r.Lib.P50), us(r.Lib.P99), us(r.Lib.CPUPerOp)},
				Raw:             jsonSide{r.Raw.OpsPerSec, us(r.Raw.P50), us(r.Raw.P99), us(r.Raw.CPUPerOp)},
				ThroughputRatio: r.ThrRatio, P50Ratio: r.P50Ratio, RoundRatioMin: r.PairMin, RoundRatioMax: r.PairMax}
			for _, w := range r.Windows {
				jo.Windows = append(jo.Windows, jsonWindow{Side: w.Side.String(), Round: w.Round, Ops: w.Ops,
					ElapsedMS: float64(w.Elapsed) / float64(time.Millisecond), OpsPerSec: w.OpsPerSec,
					P50us: us(w.P50), P99us: us(w.P99), ClientCPU: us(w.CPU), Exhausted: w.Exhausted})
			}
			js.Ops = append(js.Ops, jo)
		}
		out.Sizes = append(out.Sizes, js)
	}
	return out
}

// rowCheck compares what the two sides wrote: per side, kind of row
// (created in a Create window, or bulk-inserted) and state, the number of
// invitations and their average document size and NULL-ness of the
// columns; per side and event type, the outbox rows and their payload size.
func (b *bench) rowCheck(ctx context.Context) ([]string, error) {
	docLen, payloadLen := "length(doc)", "length(payload)"
	if b.d == sqlstore.Postgres {
		docLen, payloadLen = "octet_length(doc::text)", "octet_length(payload::text)"
	}
	side := "substr(tenant_id, 1, 3)"
	if b.d == sqlstore.MySQL {
		side = "CAST(substr(tenant_id, 1, 3) AS CHAR)"
	}
	kind := "CASE WHEN email_key LIKE 'u%' THEN 'create' WHEN email_key LIKE 's%' THEN 'send' WHEN email_key LIKE 'q%' THEN 'queued' ELSE 'bulk' END"
	q := "SELECT " + side + ", " + kind + ", state, count(*), avg(" + docLen + "), count(email_key), count(inviter_id), count(token_hash)," +
		" count(phone_key) + count(user_key) + count(idempotency_key) + count(prev_tokens) + count(code_hash), count(closed_at), sum(code_failures), sum(version)" +
		" FROM " + b.t.invitations + " GROUP BY 1, 2, 3 ORDER BY 2, 3, 1"
	var out []string
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	out = append(out, "side  kind    state     rows      avg doc  email  inviter  token  other  closed_at  code_failures  sum(version)")
	for rows.Next() {
		var sd, k, st string
		var n, e, inv, tok, other, closed, fails, ver int64
		var avg float64
		if err := rows.Scan(&sd, &k, &st, &n, &avg, &e, &inv, &tok, &other, &closed, &fails, &ver); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, fmt.Sprintf("%-5s %-7s %-9s %-9d %-8.1f %-6d %-8d %-6d %-6d %-10d %-14d %d", sd, k, st, n, avg, e, inv, tok, other, closed, fails, ver))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q = "SELECT " + side + ", type, count(*), avg(" + payloadLen + ") FROM " + b.t.outbox + " GROUP BY 1, 2 ORDER BY 2, 1"
	rows, err = b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out = append(out, "side  outbox type             rows      avg payload")
	for rows.Next() {
		var sd, typ string
		var n int64
		var avg float64
		if err := rows.Scan(&sd, &typ, &n, &avg); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%-5s %-24s %-9d %.1f", sd, typ, n, avg))
	}
	q = "SELECT count(*) FROM " + b.t.tokens
	var toks int64
	if err := b.db.QueryRowContext(ctx, q).Scan(&toks); err != nil {
		return out, err
	}
	out = append(out, fmt.Sprintf("token rows: %d (invitations stored by this run: %d)", toks, b.rows.Load()))
	return out, rows.Err()
}
