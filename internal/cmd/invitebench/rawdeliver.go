package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// rawDispatcher is the hand-written claim/ack loop the Dispatcher is
// measured against: the work Dispatcher.Drain does for queued messages,
// in the statements a host would naturally write, with the same driver
// and pool, the same batch size and the same number of concurrent
// deliveries. Until a claim finds no due message row:
//
//   - claim up to dispatchBatch due message rows (kind 'message', neither
//     delivered nor dead, available_at <= now, soonest first) and mark them
//     claimed (owner, attempts + 1, available_at = now + lease), returning
//     id, tenant, invitation, attempts and payload. PostgreSQL: one UPDATE
//     whose id IN subquery selects the rows FOR UPDATE SKIP LOCKED (as the
//     library's claim, and this file's other PostgreSQL statements, one
//     statement instead of BEGIN, SELECT, UPDATE, COMMIT). MySQL: BEGIN,
//     SELECT ... FOR UPDATE SKIP LOCKED, UPDATE ... WHERE id IN, COMMIT.
//     SQLite: one UPDATE ... RETURNING.
//   - per row, dispatchWorkers at a time: decode the payload (the queued
//     resend count); SELECT the invitation's doc and token hash; unmarshal
//     it and drop the row when the invitation is closed, expired or re-sent
//     since; mint a token (invite.MintToken); write the new token under
//     the version guard: the invitation row's version, doc and token_hash,
//     the old hash's token row deleted, the new one inserted (PostgreSQL
//     one CTE statement, else a transaction of three statements, rows
//     affected checked); call the no-op notifier with the message; then
//     mark the invitation sent (state, doc with SentAt and SendCount,
//     version) under the version guard and the outbox row delivered in one
//     CTE statement (PostgreSQL) or transaction (two UPDATEs).
//   - settle, in one UPDATE, the claimed rows no write settled (dropped, or
//     lost a race): delivered, while the claim is still this owner's.
//
// What it leaves out, which the library does: retries on a lost version
// race (the library re-reads and recomputes; here there are none), the
// notifier's timeout, failure handling (backoff, dead letters, Permanent,
// RetryAfter: the no-op notifier never fails), the link template (the
// message carries the bare token), KeepPreviousTokens, validation of what
// it writes, and the counters of Dispatcher.Stats. On SQLite its write
// transactions take the process-wide mutex of rawClient (as the library's
// write queue does).
type rawDispatcher struct {
	r     *rawClient
	owner string
	lease time.Duration
	n     invite.Notifier

	outbox                                             string
	claimPG, claimSQLite, claimSelect, get, settleLeft string
	tokenPG, sentPG                                    string
	updToken, delToken, insToken, updSent, updOutbox   string
}

func newRawDispatcher(r *rawClient, t tables, owner string, n invite.Notifier) *rawDispatcher {
	rd := &rawDispatcher{r: r, owner: owner, lease: 5 * time.Minute, n: n, outbox: t.outbox}
	const due = " WHERE kind = 'message' AND delivered_at IS NULL AND dead_at IS NULL AND available_at <= ?"
	const ret = "id, tenant_id, invitation_id, attempts, payload"
	set := "UPDATE " + t.outbox + " SET owner = ?, attempts = attempts + 1, available_at = ?"
	rd.get = "SELECT doc, token_hash FROM " + t.invitations + " WHERE tenant_id = ? AND id = ?"
	rd.settleLeft = "UPDATE " + t.outbox + " SET delivered_at = ?, last_error = ? WHERE owner = ? AND delivered_at IS NULL AND id IN "
	switch r.d {
	case sqlstore.Postgres:
		rd.claimPG = rebind(set + " WHERE id IN (SELECT id FROM " + t.outbox + due +
			" ORDER BY available_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING " + ret)
		rd.get = rebind(rd.get)
		rd.tokenPG = "WITH u AS (UPDATE " + t.invitations + " SET version = $1, doc = $2, token_hash = $3" +
			" WHERE tenant_id = $4 AND id = $5 AND version = $6 RETURNING 1)" +
			", d AS (DELETE FROM " + t.tokens + " WHERE token_hash = $7 AND EXISTS (SELECT 1 FROM u))" +
			", k AS (INSERT INTO " + t.tokens + " (token_hash, tenant_id, invitation_id)" +
			" SELECT $3::bytea, $4::text, $5::text WHERE EXISTS (SELECT 1 FROM u))" +
			" SELECT count(*) FROM u"
		rd.sentPG = "WITH u AS (UPDATE " + t.invitations + " SET version = $1, state = 'sent', doc = $2" +
			" WHERE tenant_id = $3 AND id = $4 AND version = $5 RETURNING 1)" +
			", o AS (UPDATE " + t.outbox + " SET delivered_at = $6 WHERE id = $7 AND delivered_at IS NULL AND EXISTS (SELECT 1 FROM u))" +
			" SELECT count(*) FROM u"
		return rd
	case sqlstore.SQLite:
		rd.claimSQLite = set + " WHERE id IN (SELECT id FROM " + t.outbox + due + " ORDER BY available_at LIMIT ?) RETURNING " + ret
	default:
		rd.claimSelect = "SELECT " + ret + " FROM " + t.outbox + due + " ORDER BY available_at LIMIT ? FOR UPDATE SKIP LOCKED"
	}
	rd.updToken = "UPDATE " + t.invitations + " SET version = ?, doc = ?, token_hash = ? WHERE tenant_id = ? AND id = ? AND version = ?"
	rd.delToken = "DELETE FROM " + t.tokens + " WHERE token_hash = ?"
	rd.insToken = "INSERT INTO " + t.tokens + " (token_hash, tenant_id, invitation_id) VALUES (?, ?, ?)"
	rd.updSent = "UPDATE " + t.invitations + " SET version = ?, state = 'sent', doc = ? WHERE tenant_id = ? AND id = ? AND version = ?"
	rd.updOutbox = "UPDATE " + t.outbox + " SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL"
	return rd
}

// rawEntry is a claimed message row.
type rawEntry struct {
	id, tenant, invitation string
	attempts               int
	payload                []byte
}

// drain delivers every due message, batch after batch, and returns how
// many rows it claimed.
func (rd *rawDispatcher) drain(ctx context.Context) (int, error) {
	total := 0
	for {
		es, err := rd.claim(ctx)
		if err != nil || len(es) == 0 {
			return total, err
		}
		total += len(es)
		left := make([]string, len(es))
		errs := make([]error, len(es))
		sem := make(chan struct{}, dispatchWorkers)
		var wg sync.WaitGroup
		for i := range es {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				left[i], errs[i] = rd.deliver(ctx, &es[i])
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return total, err
		}
		if err := rd.settle(ctx, left); err != nil {
			return total, err
		}
	}
}

func (rd *rawDispatcher) claim(ctx context.Context) ([]rawEntry, error) {
	r := rd.r
	at := now()
	nowV, until := r.timeValue(at), r.timeValue(at.Add(rd.lease))
	scan := func(rows *sql.Rows) ([]rawEntry, error) {
		defer rows.Close()
		var es []rawEntry
		for rows.Next() {
			var e rawEntry
			if err := rows.Scan(&e.id, &e.tenant, &e.invitation, &e.attempts, &e.payload); err != nil {
				return nil, err
			}
			es = append(es, e)
		}
		return es, rows.Err()
	}
	switch r.d {
	case sqlstore.Postgres:
		rows, err := r.db.QueryContext(ctx, rd.claimPG, rd.owner, until, nowV, dispatchBatch)
		if err != nil {
			return nil, err
		}
		return scan(rows)
	case sqlstore.SQLite:
		var es []rawEntry
		return es, r.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, rd.claimSQLite, rd.owner, until, nowV, dispatchBatch)
			if err != nil {
				return err
			}
			es, err = scan(rows)
			return err
		})
	}
	var es []rawEntry
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, rd.claimSelect, nowV, dispatchBatch)
		if err != nil {
			return err
		}
		if es, err = scan(rows); err != nil || len(es) == 0 {
			return err
		}
		args := []any{rd.owner, until}
		ph := make([]string, len(es))
		for i, e := range es {
			ph[i] = "?"
			args = append(args, e.id)
		}
		q := "UPDATE " + rd.outbox + " SET owner = ?, attempts = attempts + 1, available_at = ? WHERE id IN (" + strings.Join(ph, ", ") + ")"
		_, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return es, err
}

// deliver sends e's message with a fresh token. It returns e's id when
// the row is left to settle (dropped, or a lost race), else "".
func (rd *rawDispatcher) deliver(ctx context.Context, e *rawEntry) (string, error) {
	r := rd.r
	var q struct {
		ResendCount int `json:"resend_count"`
	}
	if err := json.Unmarshal(e.payload, &q); err != nil {
		return "", fmt.Errorf("raw dispatcher: payload of %s: %w", e.id, err)
	}
	var (
		doc     []byte
		oldHash []byte
	)
	if err := r.db.QueryRowContext(ctx, rd.get, e.tenant, e.invitation).Scan(&doc, &oldHash); errors.Is(err, sql.ErrNoRows) {
		return e.id, nil
	} else if err != nil {
		return "", err
	}
	old := &invite.Invitation{}
	if err := json.Unmarshal(doc, old); err != nil {
		return "", err
	}
	at := now()
	if (old.State != invite.StatePending && old.State != invite.StateSent) || !at.Before(old.ExpiresAt) || old.ResendCount != q.ResendCount {
		return e.id, nil
	}
	token, hash, err := invite.MintToken(invite.DefaultTokenPrefix)
	if err != nil {
		return "", err
	}
	// The new token.
	next := *old
	next.Version, next.UpdatedAt = old.Version+1, at
	if doc, err = json.Marshal(&next); err != nil {
		return "", err
	}
	var n int64
	if r.d == sqlstore.Postgres {
		err = r.db.QueryRowContext(ctx, rd.tokenPG, next.Version, string(doc), hash[:], old.TenantID, old.ID, old.Version, oldHash).Scan(&n)
	} else {
		err = r.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, rd.updToken, next.Version, string(doc), hash[:], old.TenantID, old.ID, old.Version)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil || n != 1 {
				return err
			}
			if _, err := tx.ExecContext(ctx, rd.delToken, oldHash); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, rd.insToken, hash[:], old.TenantID, old.ID)
			return err
		})
	}
	if err != nil {
		return "", err
	}
	if n != 1 {
		return e.id, nil // lost a race: the row is settled on its own
	}
	// The message.
	msg := invite.Message{ID: e.id, TenantID: old.TenantID, InvitationID: old.ID, Channel: invite.ChannelEmail,
		To: old.Invitee.Email, Locale: old.Locale, TemplateKey: old.TemplateKey,
		Vars: invite.Vars{Name: old.Name(), InviteLink: token, InvitedBy: old.Inviter.Name, AccountName: old.AccountName,
			ExpiresAt: old.ExpiresAt}}
	if err := rd.n.Notify(ctx, msg); err != nil {
		return "", err
	}
	// Sent, and the row delivered.
	sent := next
	at = now()
	sent.State, sent.SentAt, sent.SendCount, sent.Version, sent.UpdatedAt = invite.StateSent, at, next.SendCount+1, next.Version+1, at
	if doc, err = json.Marshal(&sent); err != nil {
		return "", err
	}
	ts := r.timeValue(at)
	if r.d == sqlstore.Postgres {
		err = r.db.QueryRowContext(ctx, rd.sentPG, sent.Version, string(doc), old.TenantID, old.ID, next.Version, ts, e.id).Scan(&n)
	} else {
		err = r.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, rd.updSent, sent.Version, string(doc), old.TenantID, old.ID, next.Version)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil || n != 1 {
				return err
			}
			_, err = tx.ExecContext(ctx, rd.updOutbox, ts, e.id)
			return err
		})
	}
	if err != nil {
		return "", err
	}
	if n != 1 {
		return e.id, nil
	}
	return "", nil
}

// settle marks the claimed rows of ids (the non-empty ones) that no write
// settled delivered, while this owner holds them.
func (rd *rawDispatcher) settle(ctx context.Context, ids []string) error {
	r := rd.r
	args := []any{r.timeValue(now()), "not sent", rd.owner}
	var ph []string
	for _, id := range ids {
		if id != "" {
			args = append(args, id)
			ph = append(ph, "?")
		}
	}
	if len(ph) == 0 {
		return nil
	}
	q := rd.settleLeft + "(" + strings.Join(ph, ", ") + ")"
	if r.d == sqlstore.Postgres {
		q = rebind(q)
	}
	if r.d == sqlstore.SQLite {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
	}
	_, err := r.db.ExecContext(ctx, q, args...)
	return err
}
