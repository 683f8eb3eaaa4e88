package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
)

// The benchmarks run each operation of the library and of the baseline one
// at a time on one connection, on fresh tables (dropped at the end), and
// report allocations and this process's CPU time per operation: the Go side
// of the cost, without the queueing of invitebench's concurrent windows.
// SQLite always runs; PostgreSQL and MySQL when their DSNs are set (source
// .ci/services.sh):
//
//	go test -run '^$' -bench . -benchtime 3000x ./internal/cmd/invitebench

// benchStores returns the stores to benchmark: SQLite, and each server
// whose DSN is set.
func benchStores() []string {
	stores := []string{"sqlite"}
	for _, s := range []struct{ store, env string }{{"postgres", "INVITE_POSTGRES_DSN"}, {"mysql", "INVITE_MYSQL_DSN"}} {
		if os.Getenv(s.env) != "" {
			stores = append(stores, s.store)
		}
	}
	return stores
}

// benchSetup returns a bench on fresh tables of store, with one connection.
func benchSetup(b *testing.B, store string) *bench {
	b.Helper()
	cfg, err := parseFlags([]string{"-store", store, "-conns", "1"})
	if err != nil {
		b.Fatal(err)
	}
	bn, cleanup, err := setup(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	bn.log = io.Discard
	b.Cleanup(cleanup)
	return bn
}

// reportCPU reports the process's CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := benchwin.ProcessCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
	}
}

func BenchmarkCreate(b *testing.B) {
	for _, store := range benchStores() {
		b.Run(store, func(b *testing.B) {
			bn := benchSetup(b, store)
			for _, s := range []side{lib, raw} {
				b.Run(s.String(), func(b *testing.B) {
					fn, _ := bn.opFunc("create", s)
					ctx := context.Background()
					runtime.GC()
					b.ReportAllocs()
					b.ResetTimer()
					cpu0 := benchwin.ProcessCPU()
					for range b.N {
						if err := fn(ctx, nil); err != nil {
							b.Fatal(err)
						}
					}
					reportCPU(b, cpu0)
				})
			}
		})
	}
}

func BenchmarkAccept(b *testing.B) {
	for _, store := range benchStores() {
		b.Run(store, func(b *testing.B) {
			bn := benchSetup(b, store)
			for _, s := range []side{lib, raw} {
				b.Run(s.String(), func(b *testing.B) {
					ctx := context.Background()
					toks, err := bn.bulkInsert(ctx, b.N, "a", func(seq int64) string { return bn.tenant(s, seq) })
					if err != nil {
						b.Fatal(err)
					}
					in := invite.AcceptInput{Subject: "subject-1"}
					runtime.GC()
					b.ReportAllocs()
					b.ResetTimer()
					cpu0 := benchwin.ProcessCPU()
					for i := range b.N {
						if s == lib {
							_, err = bn.m.Accept(ctx, toks[i], in)
						} else {
							err = bn.raw.accept(ctx, toks[i], in.Subject)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					reportCPU(b, cpu0)
				})
			}
		})
	}
}
