package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// The Store is an invite.Outbox: Apply queues the events and messages of
// each batch in the outbox table (see Apply), and a dispatcher claims,
// settles and re-drives them with the methods of this file. It is an
// invite.HostTransaction too.
var (
	_ invite.Outbox          = (*Store)(nil)
	_ invite.HostTransaction = (*Store)(nil)
)

// InHostTransaction implements invite.HostTransaction: it reports whether
// the Store works inside a transaction of the host's (WithTx, or New on a
// *sql.Tx), which the host commits or rolls back. The Manager then sends
// and publishes nothing itself: a dispatcher delivers what the write
// queued once the host has committed.
func (s *Store) InHostTransaction() bool { return s.begin == nil }

// entryColumns are the outbox columns an entry is read from, in the order
// scanEntry takes them.
const entryColumns = "id, kind, tenant_id, invitation_id, payload, created_at, attempts, available_at, owner, last_error, delivered_at, dead_at"

// claimRequest is a validated ClaimOutbox call.
type claimRequest struct {
	owner string
	// kinds are the kinds claimed, or nil for every kind.
	kinds      []string
	now, until time.Time
	limit      int
}

// ClaimOutbox implements invite.Outbox: it claims up to limit due rows of
// the given kinds (every kind when kinds is empty), soonest available_at
// first (then by id), for owner, and returns them as claimed (attempts one more, owner
// set, available_at now+lease), in that order.
//
// On PostgreSQL it is one statement: an UPDATE of the rows a CTE selects
// with FOR UPDATE SKIP LOCKED, RETURNING them. On MySQL and MariaDB it is
// a READ COMMITTED transaction (no gap locks that would hold up the
// inserts of concurrent writes) that selects the rows with FOR UPDATE SKIP
// LOCKED and updates them by id. Either way, concurrent claims skip the
// rows another claim holds and never return the same row. On SQLite,
// which admits one writer at a time, it is a write transaction that
// selects and updates them.
//
// An owner that is not an identifier (see invite.Outbox), a limit below
// 1, a lease that is not positive and an unknown kind are an
// *invite.ValidationError naming the argument ("owner", "limit", "lease",
// "kinds[1]").
func (s *Store) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration,
	limit int) ([]*invite.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var fields []invite.FieldError
	if p := textProblem(owner, maxKeyBytes); p != "" {
		fields = append(fields, invite.FieldError{Field: "owner", Reason: p})
	}
	if limit < 1 {
		fields = append(fields, invite.FieldError{Field: "limit", Reason: "must be at least 1"})
	}
	if lease <= 0 {
		fields = append(fields, invite.FieldError{Field: "lease", Reason: "must be positive"})
	}
	c := &claimRequest{owner: owner, now: utc(now), until: utc(now.Add(lease)), limit: limit}
	for i, k := range kinds {
		if !k.Valid() {
			fields = append(fields, invite.FieldError{Field: "kinds[" + strconv.Itoa(i) + "]", Reason: "is not an outbox kind"})
		} else if !slices.Contains(c.kinds, string(k)) {
			c.kinds = append(c.kinds, string(k))
		}
	}
	if len(fields) > 0 {
		return nil, &invite.ValidationError{Fields: fields}
	}
	if len(c.kinds) == 2 { // every kind: no condition
		c.kinds = nil
	}
	var out []*invite.OutboxEntry
	err := s.retrying(ctx, func() (err error) {
		out, err = s.dl.claim(ctx, s, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// kindCond returns the condition restricting a claim to c's kinds, "" for
// every kind.
func (c *claimRequest) kindCond(a *args) string {
	if len(c.kinds) == 0 {
		return ""
	}
	return " AND kind IN (" + addAll(a, c.kinds) + ")"
}

// txClaim is the claim of the dialects without UPDATE ... RETURNING of the
// rows a locking subquery selects (MySQL, SQLite): in one transaction (of
// the dialect's queueTx options, or a savepoint) it selects the due rows,
// with the lock clause lock, and updates them by id.
func (s *Store) txClaim(ctx context.Context, c *claimRequest, lock string) ([]*invite.OutboxEntry, error) {
	var out []*invite.OutboxEntry
	err := s.atomicallyWith(ctx, "claim outbox", s.dl.queueTx(), func(ex DBTX) error {
		out = out[:0]
		a := &args{dl: s.dl}
		cond, order := s.dl.outboxDue(a.add(s.dl.timeValue(c.now)))
		q := "SELECT " + entryColumns + " FROM " + s.outbox + " WHERE " + cond + c.kindCond(a) +
			" ORDER BY " + order + ", " + s.dl.idOrder() + " LIMIT " + a.add(c.limit) + lock
		var err error
		if out, err = s.queryEntries(ctx, ex, "claim outbox", q, a.vals...); err != nil {
			return err
		}
		ids := make([]string, len(out))
		for i, e := range out {
			ids[i] = e.ID
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), eventsPerStatement)]
			ids = ids[len(chunk):]
			a := &args{dl: s.dl}
			u := "UPDATE " + s.outbox + " SET attempts = attempts + 1, owner = " + a.add(c.owner) +
				", available_at = " + a.add(s.dl.timeValue(c.until)) + " WHERE id IN (" + addAll(a, chunk) + ")"
			if _, err := ex.ExecContext(ctx, u, a.vals...); err != nil {
				return wrap("claim outbox", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range out {
		e.Attempts++
		e.Owner, e.AvailableAt = c.owner, c.until
	}
	return out, nil
}

// SettleOutbox implements invite.Outbox: it records the outcome of claimed
// rows, each only while the row is still held by owner with the
// settlement's Attempt and is neither delivered nor dead, and returns how
// many settlements applied.
//
// The settlements of one outcome are one UPDATE (per 200), guarded by
// id IN (...) AND owner = ? AND attempts = CASE id ... END AND
// delivered_at IS NULL AND dead_at IS NULL, with the values that differ
// per row (a Retry's time, an error) chosen by CASE: a batch of one
// outcome, the usual case, is one statement, several outcomes one
// transaction. Delivered sets delivered_at to now, Retry available_at to
// At, Dead dead_at to now, and Release available_at to At and attempts
// one lower (the owner stays: the dispatcher that last held the claim);
// a non-empty Error becomes last_error (made valid UTF-8 without U+0000,
// and cut to 4,096 bytes). A zero At is now.
//
// An owner or a settlement's ID that is not an identifier (see
// invite.Outbox), two settlements of one ID and an unknown Outcome are an
// *invite.ValidationError naming the argument ("owner",
// "settlements[1].ID", "settlements[2].Outcome").
func (s *Store) SettleOutbox(ctx context.Context, owner string, now time.Time, settlements []invite.Settlement) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var fields []invite.FieldError
	if p := textProblem(owner, maxKeyBytes); p != "" {
		fields = append(fields, invite.FieldError{Field: "owner", Reason: p})
	}
	groups := map[invite.Outcome][]invite.Settlement{}
	first := make(map[string]int, len(settlements))
	for i, st := range settlements {
		field := "settlements[" + strconv.Itoa(i) + "]"
		if p := textProblem(st.ID, maxOutboxID); p != "" {
			fields = append(fields, invite.FieldError{Field: field + ".ID", Reason: p})
		} else if j, dup := first[st.ID]; dup {
			fields = append(fields, invite.FieldError{Field: field + ".ID", Reason: "repeats the id of settlements[" + strconv.Itoa(j) + "]"})
		} else {
			first[st.ID] = i
		}
		if st.Outcome < invite.Delivered || st.Outcome > invite.Release {
			fields = append(fields, invite.FieldError{Field: field + ".Outcome", Reason: "is not an outcome"})
			continue
		}
		groups[st.Outcome] = append(groups[st.Outcome], st)
	}
	if len(fields) > 0 {
		return 0, &invite.ValidationError{Fields: fields}
	}
	var stmts []settleStatement
	for _, o := range [...]invite.Outcome{invite.Delivered, invite.Retry, invite.Dead, invite.Release} {
		g := groups[o]
		for len(g) > 0 {
			chunk := g[:min(len(g), eventsPerStatement)]
			g = g[len(chunk):]
			stmts = append(stmts, s.settleStatement(owner, utc(now), o, chunk))
		}
	}
	if len(stmts) == 0 {
		return 0, nil
	}
	var n int
	run := func(ex DBTX) error {
		n = 0
		for _, st := range stmts {
			m, err := st.run(ctx, ex)
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	}
	err := s.retrying(ctx, func() error {
		if len(stmts) == 1 && stmts[0].count == "" {
			return s.writeOnce(ctx, run)
		}
		return s.atomicallyWith(ctx, "settle outbox", s.dl.queueTx(), run)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// settleStatement is one UPDATE of SettleOutbox.
type settleStatement struct {
	update string
	// count, when set, counts the rows the update will match, locking
	// them: MySQL reports the rows an UPDATE changed, not those it
	// matched, and a Retry may set the values a row already has.
	count string
	// args are the update's arguments, countArgs the count's.
	args, countArgs []any
}

func (st *settleStatement) run(ctx context.Context, ex DBTX) (int, error) {
	if st.count != "" {
		var n int
		if err := ex.QueryRowContext(ctx, st.count, st.countArgs...).Scan(&n); err != nil {
			return 0, wrap("settle outbox", err)
		}
		if n == 0 {
			return 0, nil
		}
		if _, err := ex.ExecContext(ctx, st.update, st.args...); err != nil {
			return 0, wrap("settle outbox", err)
		}
		return n, nil
	}
	n, err := affected(ex.ExecContext(ctx, st.update, st.args...))
	if err != nil {
		return 0, wrap("settle outbox", err)
	}
	return int(n), nil
}

// settleStatement builds the UPDATE settling ss, all of outcome o. Its
// arguments are numbered in the order of the text: SET, then WHERE.
func (s *Store) settleStatement(owner string, now time.Time, o invite.Outcome, ss []invite.Settlement) settleStatement {
	a := &args{dl: s.dl}
	at := func(st invite.Settlement) any {
		if st.At.IsZero() {
			return s.dl.timeValue(now)
		}
		return s.dl.timeValue(st.At)
	}
	var set []string
	switch o {
	case invite.Delivered:
		set = append(set, "delivered_at = "+a.add(s.dl.timeValue(now)))
	case invite.Retry:
		set = append(set, "available_at = "+s.caseByID(a, ss, "timestamptz", at))
	case invite.Dead:
		set = append(set, "dead_at = "+a.add(s.dl.timeValue(now)))
	case invite.Release:
		set = append(set, "available_at = "+s.caseByID(a, ss, "timestamptz", at), "attempts = attempts - 1")
	}
	var failed []invite.Settlement
	for _, st := range ss {
		if st.Error != "" {
			failed = append(failed, st)
		}
	}
	if len(failed) > 0 {
		msg := func(st invite.Settlement) any { return cleanError(st.Error) }
		if len(failed) == len(ss) {
			set = append(set, "last_error = "+s.caseByID(a, failed, "text", msg))
		} else {
			set = append(set, "last_error = COALESCE("+s.caseByID(a, failed, "text", msg)+", last_error)")
		}
	}
	ids := make([]string, len(ss))
	for i, st := range ss {
		ids[i] = st.ID
	}
	where := func(a *args) string {
		return " WHERE id IN (" + addAll(a, ids) + ") AND owner = " + a.add(owner) +
			" AND attempts = " + s.caseByID(a, ss, "integer", func(st invite.Settlement) any { return int64(st.Attempt) }) +
			" AND delivered_at IS NULL AND dead_at IS NULL"
	}
	st := settleStatement{update: "UPDATE " + s.outbox + " SET " + strings.Join(set, ", ") + where(a), args: a.vals}
	if o == invite.Retry && s.dl.countsChangedRows() {
		// The rows the update will match, locked (currentReads is FOR
		// UPDATE where rows affected counts changed rows: MySQL).
		c := &args{dl: s.dl}
		st.count = "SELECT count(*) FROM " + s.outbox + where(c) + s.dl.currentReads()
		st.countArgs = c.vals
	}
	return st
}

// caseByID returns the value of val for the row of each settlement of ss:
// its placeholder when ss holds one, or CASE id WHEN ? THEN ? ... END
// (NULL for another id), each value typed as pgType on PostgreSQL.
func (s *Store) caseByID(a *args, ss []invite.Settlement, pgType string, val func(invite.Settlement) any) string {
	if len(ss) == 1 {
		return s.dl.typed(a.add(val(ss[0])), pgType)
	}
	var b strings.Builder
	b.WriteString("CASE id")
	for _, st := range ss {
		b.WriteString(" WHEN " + a.add(st.ID) + " THEN " + s.dl.typed(a.add(val(st)), pgType))
	}
	b.WriteString(" END")
	return b.String()
}

// maxErrorBytes bounds a stored last_error.
const maxErrorBytes = 4096

// cleanError returns e as last_error stores it: valid UTF-8 without U+0000
// (PostgreSQL's text cannot hold it), at most maxErrorBytes long.
func cleanError(e string) string {
	e = strings.ToValidUTF8(e, "\uFFFD")
	e = strings.ReplaceAll(e, "\x00", "\uFFFD")
	if len(e) > maxErrorBytes {
		cut := maxErrorBytes
		for cut > 0 && !utf8.RuneStart(e[cut]) {
			cut--
		}
		e = e[:cut]
	}
	return e
}

// ListDeadOutbox implements invite.Outbox: the tenant's dead-lettered rows
// (dead and not delivered), in byte order of id, after the id after, at
// most limit of them: a range scan of the index of dead rows by tenant and
// id. A tenantID or a non-empty after that is not an identifier (see
// invite.Outbox) and a limit below 1 are an *invite.ValidationError.
func (s *Store) ListDeadOutbox(ctx context.Context, tenantID, after string, limit int) ([]*invite.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var fields []invite.FieldError
	if p := textProblem(tenantID, maxKeyBytes); p != "" {
		fields = append(fields, invite.FieldError{Field: "tenantID", Reason: p})
	}
	if limit < 1 {
		fields = append(fields, invite.FieldError{Field: "limit", Reason: "must be at least 1"})
	}
	if p := textProblem(after, maxOutboxID); after != "" && p != "" {
		fields = append(fields, invite.FieldError{Field: "after", Reason: p})
	}
	if len(fields) > 0 {
		return nil, &invite.ValidationError{Fields: fields}
	}
	a := &args{dl: s.dl}
	q := "SELECT " + entryColumns + " FROM " + s.outbox + " WHERE " + s.dl.outboxDead(a.add(tenantID))
	if after != "" {
		q += " AND " + s.dl.idOrder() + " > " + a.add(after)
	}
	q += " ORDER BY " + s.dl.idOrder() + " LIMIT " + a.add(limit)
	return s.queryEntries(ctx, s.db, "list dead outbox", q, a.vals...)
}

// RedriveOutbox implements invite.Outbox: it makes the tenant's dead rows
// among ids due again at now, with attempts 0 and no owner (last_error
// stays), and returns how many it revived. One UPDATE by primary key per
// 200 ids. A tenantID or an id that is not an identifier (see
// invite.Outbox) is an *invite.ValidationError.
func (s *Store) RedriveOutbox(ctx context.Context, tenantID string, ids []string, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var fields []invite.FieldError
	if p := textProblem(tenantID, maxKeyBytes); p != "" {
		fields = append(fields, invite.FieldError{Field: "tenantID", Reason: p})
	}
	for i, id := range ids {
		if p := textProblem(id, maxOutboxID); p != "" {
			fields = append(fields, invite.FieldError{Field: "ids[" + strconv.Itoa(i) + "]", Reason: p})
		}
	}
	if len(fields) > 0 {
		return 0, &invite.ValidationError{Fields: fields}
	}
	var chunks [][]string
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), eventsPerStatement)]
		ids = ids[len(chunk):]
		chunks = append(chunks, chunk)
	}
	if len(chunks) == 0 {
		return 0, nil
	}
	var n int
	run := func(ex DBTX) error {
		n = 0
		for _, chunk := range chunks {
			a := &args{dl: s.dl}
			q := "UPDATE " + s.outbox + " SET dead_at = NULL, attempts = 0, owner = NULL, available_at = " + a.add(s.dl.timeValue(now)) +
				" WHERE tenant_id = " + a.add(tenantID) + " AND id IN (" + addAll(a, chunk) + ")" +
				" AND dead_at IS NOT NULL AND delivered_at IS NULL"
			m, err := affected(ex.ExecContext(ctx, q, a.vals...))
			if err != nil {
				return wrap("redrive outbox", err)
			}
			n += int(m)
		}
		return nil
	}
	err := s.retrying(ctx, func() error {
		if len(chunks) == 1 {
			return s.writeOnce(ctx, run)
		}
		return s.atomically(ctx, "redrive outbox", run)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PurgeOutbox implements invite.Outbox: it deletes up to limit rows,
// across tenants, delivered before before, oldest first, and returns how
// many it deleted: on PostgreSQL and SQLite one DELETE of the ids a
// subquery selects on the index of delivered rows; on MySQL and MariaDB
// one DELETE ... ORDER BY delivered_at LIMIT, at READ COMMITTED (no gap
// locks). A limit below 1 is an *invite.ValidationError.
func (s *Store) PurgeOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit < 1 {
		return 0, invalid("limit", "must be at least 1")
	}
	var n int
	err := s.retrying(ctx, func() (err error) {
		n, err = s.dl.purgeOutbox(ctx, s, before, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// purgeOutboxByIDs is purgeOutbox of PostgreSQL and SQLite: one DELETE of
// the ids a subquery selects, compared with id by open, the subquery, and
// then close.
func (s *Store) purgeOutboxByIDs(ctx context.Context, open, close string, before time.Time, limit int) (int, error) {
	q := bind(s.dl, "DELETE FROM "+s.outbox+" WHERE id "+open+"SELECT id FROM "+s.outbox+
		" WHERE delivered_at < ? ORDER BY delivered_at LIMIT ?"+close)
	var n int64
	err := s.writeOnce(ctx, func(ex DBTX) (err error) {
		if n, err = affected(ex.ExecContext(ctx, q, s.dl.timeValue(before), limit)); err != nil {
			return wrap("purge outbox", err)
		}
		return nil
	})
	return int(n), err
}

// OutboxStats implements invite.Outbox, in one statement of three
// aggregates over the indexes of pending and dead rows (and, on
// PostgreSQL, of the messages held in invitations' slots, which are
// pending: see pgslot.go).
func (s *Store) OutboxStats(ctx context.Context) (invite.OutboxStats, error) {
	if err := ctx.Err(); err != nil {
		return invite.OutboxStats{}, err
	}
	pending, dead := s.dl.outboxPending(), s.dl.outboxDead("")
	count := "(SELECT count(*) FROM " + s.outbox + " WHERE " + pending + ")"
	oldest := "(SELECT min(created_at) FROM " + s.outbox + " WHERE " + pending + ")"
	if s.dl.messageSlots() { // the slots' messages are pending too
		held := " FROM " + s.invitations + " WHERE msg_due IS NOT NULL" // on invitations_message_due
		count += " + (SELECT count(*)" + held + ")"
		oldest = "LEAST(" + oldest + ", (SELECT min(msg_created)" + held + "))"
	}
	q := "SELECT " + count + ", (SELECT count(*) FROM " + s.outbox + " WHERE " + dead + "), " + oldest
	var st invite.OutboxStats
	if err := s.db.QueryRowContext(ctx, q).Scan(&st.Pending, &st.Dead, timeDest{&st.OldestPending}); err != nil {
		return invite.OutboxStats{}, wrap("outbox stats", err)
	}
	return st, nil
}
