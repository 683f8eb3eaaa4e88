package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/invitekit/invite"
)

// The inviters' limits (invite.Write.OpenLimit). A batch with an insert
// under a limit runs in a transaction that first locks the inviter's row
// of the inviters table (an upsert, which locks the row until the
// transaction ends: concurrent batches for one inviter wait for each
// other), then writes, then counts the inviter's open invitations with the
// batch applied; over the limit, it fails and rolls back. A row of the
// inviters table is kept per tenant and inviter that ever had a limited
// insert (two short ids; Purge leaves them).

// EnforcesOpenLimit implements invite.OpenLimiter.
func (s *Store) EnforcesOpenLimit() bool { return true }

// lockInviters locks the inviters' rows of the limited inserts of ws, in
// one order (tenant, inviter) so that two batches cannot deadlock on them.
func (s *Store) lockInviters(ctx context.Context, ex DBTX, ws []write) error {
	type key struct{ tenant, inviter string }
	var keys []key
	for i := range ws {
		if ws[i].limit > 0 {
			keys = append(keys, key{ws[i].row.tenantID, ws[i].inviter})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.inviter, b.inviter)) })
	keys = slices.Compact(keys)
	for _, k := range keys {
		if _, err := ex.ExecContext(ctx, s.q.lockInviter, k.tenant, k.inviter); err != nil {
			return wrap("apply: lock inviter", err)
		}
	}
	return nil
}

// checkLimits counts, for each limited insert of ws, its inviter's open
// invitations (pending or sent, expiring after the insert's creation)
// with the batch written: more than the limit is invite.ErrQuotaExceeded.
func (s *Store) checkLimits(ctx context.Context, ex DBTX, ws []write) error {
	for i := range ws {
		w := &ws[i]
		if w.limit == 0 {
			continue
		}
		var n int
		if err := ex.QueryRowContext(ctx, s.q.countOpen, w.row.tenantID, w.inviter, w.at).Scan(&n); err != nil {
			return wrap("apply: count open invitations", err)
		}
		if n > w.limit {
			return fmt.Errorf("sqlstore: apply: invitation %s: %w", w.row.id, invite.ErrQuotaExceeded)
		}
	}
	return nil
}
