package main

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
	"github.com/invitekit/invite/sqlstore"
)

// Durable delivery: -measure create-send,deliver.
//
// create-send is Manager.Create with DeliverySend and a no-op notifier
// (no EventSink), windows timed like create's. "lib" is the Manager on
// sqlstore, an invite.Outbox: the insert queues the message (an outbox
// row; on PostgreSQL held on the invitation's own row), the Manager
// notifies after the commit, then marks the invitation sent and settles
// the message in one write. "raw" is today's inline path: the same
// Manager configuration on inlineStore, the same store behind a type that
// hides the Outbox, so the insert queues nothing and the sent write settles
// nothing.
//
// deliver is Dispatcher.Drain ("lib") against rawDispatcher ("raw"), both
// with the no-op notifier, batches of dispatchBatch and dispatchWorkers
// deliveries at once, on the same pool. Before each window (unmeasured)
// -deliver-n invitations of the side's tenants are stored with their
// queued message, due now, through the library's own Apply (a batch of
// Writes, then one of their Messages: outbox rows on every store); the window
// is the time to drain them, records/s the rate. After each window every
// one of them must be sent and its row delivered.

// The Dispatcher's defaults, which both sides of deliver use.
const (
	dispatchBatch   = 100
	dispatchWorkers = 16
)

// noopNotifier accepts every message.
var noopNotifier = invite.NotifierFunc(func(context.Context, invite.Message) error { return nil })

// sendLinkTemplate makes the link DeliverySend needs.
const sendLinkTemplate = "https://app.example.com/invite?token={{.Token}}"

// inlineStore is the store without its Outbox (nor HostTransaction)
// ability: the Manager on it sends inline and queues nothing.
type inlineStore struct{ invite.Store }

// delivery is the state of the create-send and deliver measurements.
type delivery struct {
	// sendM is the Manager with the no-op notifier on the store (outbox),
	// inlineM the same on inlineStore.
	sendM, inlineM *invite.Manager
	disp           *invite.Dispatcher
	raw            *rawDispatcher
}

func (b *bench) delivery() (*delivery, error) {
	if b.dlv != nil {
		return b.dlv, nil
	}
	cfg := invite.Config{Notifier: noopNotifier, LinkTemplate: sendLinkTemplate}
	sendM, err := invite.New(b.store, cfg)
	if err != nil {
		return nil, err
	}
	inlineM, err := invite.New(inlineStore{b.store}, cfg)
	if err != nil {
		return nil, err
	}
	disp, err := sendM.NewDispatcher(invite.DispatcherConfig{ID: "bench-lib", Kinds: []invite.OutboxKind{invite.OutboxMessage},
		BatchSize: dispatchBatch, Concurrency: dispatchWorkers, Retention: -1})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	b.dlv = &delivery{sendM: sendM, inlineM: inlineM, disp: disp, raw: newRawDispatcher(b.raw, b.t, "bench-raw", noopNotifier)}
	return b.dlv, nil
}

// createSendFunc is the create-send operation of s.
func (b *bench) createSendFunc(s side) (opFunc, error) {
	dl, err := b.delivery()
	if err != nil {
		return nil, err
	}
	m := dl.sendM
	if s == raw {
		m = dl.inlineM
	}
	return func(ctx context.Context, _ *randT) error {
		seq := b.seq.Add(1)
		in := createInput(b.tenant(s, seq), b.email("s", seq))
		in.Delivery = invite.DeliverySend
		res, err := m.Create(ctx, in)
		if err != nil {
			return err
		}
		b.rows.Add(1)
		if res.DeliveryErr != nil || res.Invitation.State != invite.StateSent {
			return fmt.Errorf("create-send: not sent (%v, %s)", res.DeliveryErr, res.Invitation.State)
		}
		return nil
	}, nil
}

// queueMessages stores n open invitations of s's tenants and then their
// queued messages, due now, through the store's Apply, dispatchBatch to a
// batch.
func (b *bench) queueMessages(ctx context.Context, s side, n int) error {
	par := min(bulkConns, b.cfg.conns)
	if b.d == sqlstore.SQLite {
		par = 1
	}
	chunks := (n + dispatchBatch - 1) / dispatchBatch
	return benchwin.Chunks(ctx, chunks, par, func(ctx context.Context, c int) error {
		lo := c * dispatchBatch
		var bt invite.Batch
		for range min(dispatchBatch, n-lo) {
			seq := b.seq.Add(1)
			_, hash, err := invite.MintToken(invite.DefaultTokenPrefix)
			if err != nil {
				return err
			}
			at := now()
			inv := newInvitation(b.tenant(s, seq), b.email("q", seq), at)
			bt.Writes = append(bt.Writes, invite.Write{Record: &invite.Record{Invitation: inv, Credentials: invite.Credentials{TokenHash: hash}}})
			bt.Messages = append(bt.Messages, invite.QueuedMessage{ID: uuid.Must(uuid.NewV7()).String(), TenantID: inv.TenantID,
				InvitationID: inv.ID, CreatedAt: at, AvailableAt: at})
		}
		// The messages in a batch of their own: outbox rows, which the
		// raw loop claims, on every store (PostgreSQL would hold the
		// message of a batch's last insert on its invitation's row until
		// a claim moves it to the outbox).
		msgs := &invite.Batch{Messages: bt.Messages}
		bt.Messages = nil
		if err := b.store.Apply(ctx, &bt); err != nil {
			return fmt.Errorf("queueing messages: %w", err)
		}
		if err := b.store.Apply(ctx, msgs); err != nil {
			return fmt.Errorf("queueing messages: %w", err)
		}
		b.rows.Add(int64(len(bt.Writes)))
		return nil
	})
}

// drainWindow queues n messages for s, then times s draining them.
func (b *bench) drainWindow(ctx context.Context, s side, n int) (window, error) {
	dl, err := b.delivery()
	if err != nil {
		return window{}, err
	}
	if err := b.queueMessages(ctx, s, n); err != nil {
		return window{}, err
	}
	cpu0 := benchwin.ProcessCPU()
	start := time.Now()
	var got int
	pprof.Do(ctx, pprof.Labels("op", "deliver", "side", s.String()), func(ctx context.Context) {
		if s == lib {
			got, err = dl.disp.Drain(ctx)
		} else {
			got, err = dl.raw.drain(ctx)
		}
	})
	elapsed := time.Since(start)
	cpu := benchwin.ProcessCPU() - cpu0
	if err != nil {
		return window{}, fmt.Errorf("%s: %w", s, err)
	}
	if got != n {
		return window{}, fmt.Errorf("%s drained %d records, want %d", s, got, n)
	}
	if err := b.checkDelivered(ctx, s); err != nil {
		return window{}, err
	}
	return window{Side: s, Window: benchwin.Window{Ops: n, Elapsed: elapsed, OpsPerSec: float64(n) / elapsed.Seconds(),
		CPU: cpu / time.Duration(n)}}, nil
}

// checkDelivered checks that every queued message of s's tenants is
// delivered and every invitation queued for them is sent.
func (b *bench) checkDelivered(ctx context.Context, s side) error {
	pat := s.String() + "-%"
	q := "SELECT (SELECT count(*) FROM " + b.t.outbox + " WHERE kind = 'message' AND delivered_at IS NULL AND tenant_id LIKE ?)," +
		" (SELECT count(*) FROM " + b.t.invitations + " WHERE tenant_id LIKE ? AND email_key LIKE 'q%' AND state <> 'sent')"
	if b.d == sqlstore.Postgres {
		q = rebind(q)
	}
	var pending, unsent int64
	if err := b.db.QueryRowContext(ctx, q, pat, pat).Scan(&pending, &unsent); err != nil {
		return fmt.Errorf("checking deliveries: %w", err)
	}
	if pending != 0 || unsent != 0 {
		return fmt.Errorf("%s: %d message rows undelivered and %d queued invitations not sent after the drain", s, pending, unsent)
	}
	return nil
}

// measureDeliver measures deliver: a warm-up window per side, then
// -rounds windows per side, alternating as measureOp does.
func (b *bench) measureDeliver(ctx context.Context) (opResult, error) {
	res := opResult{Op: "deliver", RowsAtStart: b.rows.Load()}
	for _, s := range []side{lib, raw} {
		w, err := b.drainWindow(ctx, s, max(b.cfg.deliverN/5, dispatchBatch))
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		b.logf("%-7s %s warm-up: %d records in %s, %.0f records/s", "deliver", s, w.Ops, w.Elapsed.Round(time.Millisecond), w.OpsPerSec)
	}
	var pairs []float64
	for r := range b.cfg.rounds {
		order := []side{lib, raw}
		if r%2 == 1 {
			order = []side{raw, lib}
		}
		var thr [2]float64
		for _, s := range order {
			w, err := b.drainWindow(ctx, s, b.cfg.deliverN)
			if err != nil {
				return res, err
			}
			w.Round = r + 1
			thr[s] = w.OpsPerSec
			res.Windows = append(res.Windows, w)
			b.logf("%-7s %s round %d: %d records in %s, %.0f records/s, client CPU %s/record", "deliver", s, r+1, w.Ops,
				w.Elapsed.Round(time.Millisecond), w.OpsPerSec, benchwin.Us(w.CPU))
		}
		pairs = append(pairs, thr[lib]/thr[raw])
	}
	var ws [2][]window
	for _, w := range res.Windows {
		ws[w.Side] = append(ws[w.Side], w)
	}
	res.Lib, res.Raw = benchwin.SummarizeSide(ws[lib]), benchwin.SummarizeSide(ws[raw])
	res.ThrRatio = res.Lib.OpsPerSec / res.Raw.OpsPerSec
	res.PairMin, res.PairMax = slices.Min(pairs), slices.Max(pairs)
	return res, nil
}

// deliveryTargets are the targets of deliver: the Dispatcher at least
// 0.8x the claim/ack loop on every database. create-send has no target
// here: its raw side is this build's store without the outbox row, which
// also writes no events, a stricter baseline than the inline path of the
// release before durable delivery (whose writes always carried their
// events); that comparison is across builds (README, Performance).
func (rep *report) deliveryTargets() []target {
	var ts []target
	cfg := rep.cfg
	note := ""
	if cfg.store != "sqlite" && cfg.conns != 16 {
		note = "target defined at 16 connections; measured at " + strconv.Itoa(cfg.conns)
	}
	for _, sr := range rep.Sizes {
		if r := rep.find(sr.Preload, "deliver"); r != nil {
			ts = append(ts, target{Name: fmt.Sprintf("%s deliver Dispatcher/claim-ack loop records/s (conns %d, %d workers, preload %d)",
				cfg.store, cfg.conns, dispatchWorkers, sr.Preload), Value: r.ThrRatio, Limit: 0.8, Pass: r.ThrRatio >= 0.8, Note: note})
		}
	}
	return ts
}
