package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/internal/benchwin"
	"github.com/invitekit/invite/sqlstore"
)

// bulkConns is the number of connections a bulk insert uses.
const bulkConns = 4

// bulkChunk is the number of invitations of one multi-row INSERT: 12
// placeholders a row stays far below every dialect's limit.
const bulkChunk = 500

// bulkInsert stores n open invitations, unmeasured, the fast way: multi-row
// INSERTs into the library's own tables, a transaction per chunk, from
// several connections. Every row is exactly what the library's Create
// writes for createInput (newInvitation's document, a library token minted
// by invite.MintToken so that Manager.Lookup and Accept take it, its token
// row, and the created event in the outbox). tenantOf names the tenant of
// the invitation numbered seq; tag starts its email. It returns the tokens,
// in no particular order.
func (b *bench) bulkInsert(ctx context.Context, n int, tag string, tenantOf func(seq int64) string) ([]string, error) {
	tokens := make([]string, n)
	chunks := (n + bulkChunk - 1) / bulkChunk
	// Up to bulkConns connections, whatever -conns (the pool grows for
	// the load and shrinks back); SQLite has one writer.
	par := min(bulkConns, chunks)
	if b.d == sqlstore.SQLite {
		par = 1
	}
	if par > b.cfg.conns {
		b.db.SetMaxOpenConns(par)
		defer b.db.SetMaxOpenConns(b.cfg.conns)
	}
	err := benchwin.Chunks(ctx, chunks, par, func(ctx context.Context, c int) error {
		lo, hi := c*bulkChunk, min(n, (c+1)*bulkChunk)
		if err := b.insertChunk(ctx, tokens[lo:hi], tag, tenantOf); err != nil {
			return err
		}
		b.rows.Add(int64(hi - lo))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tokens, nil
}

// insertChunk builds len(tokens) invitations and inserts them in one
// transaction of three multi-row INSERTs.
func (b *bench) insertChunk(ctx context.Context, tokens []string, tag string, tenantOf func(seq int64) string) error {
	tv := timeValuer(b.d)
	inv := make([]any, 0, 10*len(tokens))
	tok := make([]any, 0, 3*len(tokens))
	out := make([]any, 0, 7*len(tokens))
	for i := range tokens {
		seq := b.seq.Add(1)
		tenant := tenantOf(seq)
		email := b.email(tag, seq)
		secret, hash, err := invite.MintToken(invite.DefaultTokenPrefix)
		if err != nil {
			return err
		}
		tokens[i] = secret.Reveal()
		at := now()
		v := newInvitation(tenant, email, at)
		doc, err := json.Marshal(&v)
		if err != nil {
			return err
		}
		ev := invite.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: invite.EventCreated, Time: at,
			TenantID: tenant, InvitationID: v.ID, Actor: invite.Actor{Kind: invite.ActorAdmin}, New: &v}
		payload, err := json.Marshal(&ev)
		if err != nil {
			return err
		}
		h := hash // the array escapes: one per row
		inv = append(inv, tenant, v.ID, int64(1), string(invite.StatePending), strings.ToLower(email), benchInviter.ID,
			tv(at), tv(v.ExpiresAt), string(doc), h[:], searchName, searchFamily)
		tok = append(tok, h[:], tenant, v.ID)
		out = append(out, ev.ID, tenant, v.ID, string(invite.EventCreated), string(payload), tv(at), tv(at))
	}
	stmts := []struct {
		table, columns string
		vals           []any
		width          int
	}{
		{b.t.invitations, rawInvitationColumns, inv, 12},
		{b.t.tokens, "token_hash, tenant_id, invitation_id", tok, 3},
		{b.t.outbox, outboxColumns, out, 7},
	}
	return b.raw.inTx(ctx, func(tx *sql.Tx) error {
		for _, s := range stmts {
			q := multiInsert(b.d, s.table, s.columns, s.width, len(tokens))
			if _, err := tx.ExecContext(ctx, q, s.vals...); err != nil {
				return fmt.Errorf("bulk insert into %s: %w", s.table, err)
			}
		}
		return nil
	})
}

// multiInsert returns INSERT INTO table (columns) VALUES with rows tuples
// of width placeholders.
func multiInsert(d sqlstore.Dialect, table, columns string, width, rows int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
	n := 0
	for r := range rows {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range width {
			if c > 0 {
				q.WriteString(", ")
			}
			if d == sqlstore.Postgres {
				n++
				q.WriteString("$" + strconv.Itoa(n))
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
	}
	return q.String()
}
