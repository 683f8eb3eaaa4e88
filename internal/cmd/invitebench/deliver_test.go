package main

import (
	"context"
	"io"
	"testing"
)

// TestDeliverySmoke runs -measure create-send,deliver tiny on SQLite: both
// sides of both measurements run, every queued message is delivered (each
// deliver window checks it) and the report prints its targets.
func TestDeliverySmoke(t *testing.T) {
	cfg, err := parseFlags([]string{"-store", "sqlite", "-measure", "create-send,deliver", "-preload", "50",
		"-ops", "50", "-rounds", "1", "-deliver-n", "150"})
	if err != nil {
		t.Fatal(err)
	}
	b, cleanup, err := setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	b.log = io.Discard
	rep, err := b.runAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"create-send", "deliver"} {
		r := rep.find(50, op)
		if r == nil || len(r.Windows) != 2 || r.Lib.OpsPerSec <= 0 || r.Raw.OpsPerSec <= 0 {
			t.Fatalf("%s: %+v", op, r)
		}
	}
	if r := rep.find(50, "deliver"); r.Windows[0].Ops != 150 || r.Windows[1].Ops != 150 {
		t.Fatalf("deliver windows: %+v", r.Windows)
	}
	if ts := rep.deliveryTargets(); len(ts) != 1 {
		t.Fatalf("SQLite delivery targets: %+v", ts)
	}
	rep.print(io.Discard, true)
	if j := rep.toJSON(); len(j.Targets) == 0 {
		t.Fatal("no targets in the JSON report")
	}
}
