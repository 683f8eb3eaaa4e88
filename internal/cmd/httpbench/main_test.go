package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestSmoke runs the command tiny on SQLite and checks the shape of its
// reports (JSON and text), not its timings.
func TestSmoke(t *testing.T) {
	var out, log bytes.Buffer
	args := []string{"-preload", "60", "-ops", "30", "-rounds", "2", "-conns", "2", "-tenants", "3", "-json"}
	if code := run(args, &out, &log); code != 0 {
		t.Fatalf("run %v: exit %d\n%s", args, code, log.String())
	}
	var rep jsonReport
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not the JSON expected: %v\n%s", err, out.String())
	}
	if rep.Store != "sqlite" || rep.Conns != 2 || rep.Workers != 2 || rep.Preload != 60 || rep.Ops != 30 || rep.Rounds != 2 {
		t.Errorf("report's settings: %+v", rep)
	}
	if len(rep.Results) != len(allOps) || len(rep.Targets) != len(allOps) {
		t.Fatalf("%d results and %d targets, want %d of each", len(rep.Results), len(rep.Targets), len(allOps))
	}
	pass := true
	for i, r := range rep.Results {
		if r.Op != allOps[i] {
			t.Errorf("result %d is %q, want %q", i, r.Op, allOps[i])
		}
		for name, s := range map[string]jsonSide{"http": r.HTTP, "direct": r.Direct} {
			if s.OpsPerSec <= 0 || s.P50us <= 0 || s.P99us < s.P50us {
				t.Errorf("%s %s: %+v", r.Op, name, s)
			}
		}
		if r.Ratio <= 0 || r.RoundRatioMin > r.RoundRatioMax {
			t.Errorf("%s: ratio %v, rounds %v-%v", r.Op, r.Ratio, r.RoundRatioMin, r.RoundRatioMax)
		}
		if len(r.Windows) != 2*rep.Rounds {
			t.Errorf("%s: %d windows, want %d", r.Op, len(r.Windows), 2*rep.Rounds)
		}
		sides := map[string]int{}
		for _, w := range r.Windows {
			sides[w.Side]++
			if w.Ops != 30 {
				t.Errorf("%s %s round %d: %d ops, want 30", r.Op, w.Side, w.Round, w.Ops)
			}
		}
		if sides["http"] != rep.Rounds || sides["direct"] != rep.Rounds {
			t.Errorf("%s: windows per side %v", r.Op, sides)
		}
		tg := rep.Targets[i]
		if !strings.Contains(tg.Name, r.Op) || tg.Limit != target || tg.Value != r.Ratio || tg.Pass != (r.Ratio >= target) {
			t.Errorf("target %d: %+v for %s", i, tg, r.Op)
		}
		pass = pass && tg.Pass
	}
	if rep.Pass != pass {
		t.Errorf("pass %v, targets say %v", rep.Pass, pass)
	}

	// The text report: a table row and a verdict per operation.
	out.Reset()
	args = []string{"-preload", "20", "-ops", "10", "-rounds", "1", "-conns", "2", "-measure", "lookup,create"}
	if code := run(args, &out, &log); code != 0 {
		t.Fatalf("run %v: exit %d\n%s", args, code, log.String())
	}
	text := out.String()
	for _, want := range []string{"http/direct", "\nlookup ", "\ncreate ", "sqlite lookup http/direct throughput", "sqlite create http/direct throughput"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\naccept ") {
		t.Errorf("text report has accept, not measured:\n%s", text)
	}
	if n := strings.Count(text, "PASS  ") + strings.Count(text, "FAIL  "); n != 2 {
		t.Errorf("%d verdicts, want 2:\n%s", n, text)
	}
}

// TestSmokeFloor: with -bare and -floor, every operation has the two more
// sides' windows, the floor's answers are the adapter's (its requests
// pass the status checks), and its CPU is set against the direct call's.
func TestSmokeFloor(t *testing.T) {
	var out, log bytes.Buffer
	args := []string{"-preload", "40", "-ops", "20", "-rounds", "2", "-conns", "2", "-tenants", "2", "-bare", "-floor", "-json"}
	if code := run(args, &out, &log); code != 0 {
		t.Fatalf("run %v: exit %d\n%s", args, code, log.String())
	}
	var rep jsonReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Targets) != 2*len(rep.Results) {
		t.Fatalf("%d targets for %d operations with -bare: want http/direct and http/bare for each", len(rep.Targets), len(rep.Results))
	}
	for i, r := range rep.Results {
		if tg := rep.Targets[2*i+1]; !strings.Contains(tg.Name, r.Op+" http/bare") || tg.Value != r.BareRatio || tg.Limit != bareTarget {
			t.Errorf("target of %s http/bare: %+v", r.Op, tg)
		}
		if r.Bare == nil || r.Floor == nil || r.Floor.OpsPerSec <= 0 {
			t.Fatalf("%s: bare %+v, floor %+v", r.Op, r.Bare, r.Floor)
		}
		if want := r.Floor.CPUus / r.Direct.CPUus; r.FloorCPU <= 0 || math.Abs(r.FloorCPU-want) > 1e-9*want {
			t.Errorf("%s: floor/direct CPU %v, want %v", r.Op, r.FloorCPU, want)
		}
		sides := map[string]int{}
		for _, w := range r.Windows {
			sides[w.Side]++
		}
		if len(sides) != 4 || sides["floor"] != rep.Rounds || sides["bare"] != rep.Rounds {
			t.Errorf("%s: windows per side %v", r.Op, sides)
		}
	}
	out.Reset()
	args = []string{"-preload", "20", "-ops", "10", "-rounds", "1", "-conns", "2", "-measure", "lookup", "-floor"}
	if code := run(args, &out, &log); code != 0 {
		t.Fatalf("run %v: exit %d\n%s", args, code, log.String())
	}
	if text := out.String(); !strings.Contains(text, "floor/direct CPU") || !strings.Contains(text, "floor req/s") {
		t.Errorf("text report lacks the floor table:\n%s", text)
	}
}

func TestFlags(t *testing.T) {
	var log bytes.Buffer
	for _, args := range [][]string{{"-store", "mysql"}, {"-measure", "delete"}, {"-rounds", "0"}, {"extra"}} {
		if code := run(args, &bytes.Buffer{}, &log); code != 2 {
			t.Errorf("run %v: exit %d, want 2", args, code)
		}
	}
	t.Setenv("INVITE_POSTGRES_DSN", "")
	if _, err := parseFlags([]string{"-store", "postgres"}, &log); err == nil {
		t.Error("-store postgres without a DSN: no error")
	}
}
