package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
)

// canned is one operation's real answer, replayed by the floor handler.
type canned struct {
	status int
	body   []byte
}

// floorHandler answers the three measured routes with the adapter's own
// answers, recorded before the run, doing nothing else: it reads the
// request's body to the end and writes the recorded status, Content-Type
// and body. Side "floor" (-floor): what one HTTP exchange of the same
// bytes costs on this machine, with no work behind it.
func floorHandler(answers map[string]canned) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a := answers[routeOp(r)]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	})
}

// routeOp names the measured operation of a request to any side's server.
func routeOp(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet:
		return "lookup"
	case strings.HasSuffix(r.URL.Path, "/accept"):
		return "accept"
	}
	return "create"
}

// recordAnswers makes one request of each operation to the adapter, as
// side http's workers do, and returns its answers for the floor handler.
func (b *bench) recordAnswers(ctx context.Context) (map[string]canned, error) {
	answers := map[string]canned{}
	for _, op := range allOps {
		fn, prep := b.opFunc(op, httpSide)
		if prep != nil {
			if err := prep(ctx, 0, 1); err != nil {
				return nil, err
			}
		}
		b.record = func(status int, body []byte) { answers[op] = canned{status, body} }
		err := fn(ctx, rand.New(rand.NewPCG(1, 2)))
		b.record = nil
		if err != nil {
			return nil, fmt.Errorf("recording the answer of %s: %w", op, err)
		}
	}
	return answers, nil
}
