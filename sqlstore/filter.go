package sqlstore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// The filters of List and Count: one WHERE clause, built by filterWhere,
// for both. The client id and the template key only the document holds:
// the filters compare expressions of the document that the indexes of
// migration 0003_filters cover, on MySQL the generated columns it adds;
// the dialects name them (dialect.filterColumn). invite.Filter.Search
// compares the columns search_name and search_family (migration
// 0005_search_keys), which every write sets from the invitation's
// NameKeys, and email_key. invite.Filter.Resent reads resend_count from
// the document (dialect.resendCount), with no index.

// filterColumn names a value List and Count filter on.
type filterColumn int

const (
	fcClientID    filterColumn = iota // the client id
	fcTemplateKey                     // the template key
	fcEmail                           // email_key, compared in byte order
)

// filterWhere returns the conditions (to join with AND) selecting the
// tenant's invitations that pass f at now, and adds their arguments to a.
func (s *Store) filterWhere(a *args, tenantID string, f *invite.Filter, now time.Time) []string {
	where := []string{"tenant_id = " + a.add(tenantID)}
	if c := s.stateCond(a, f, now); c != "" {
		where = append(where, c)
	}
	for _, c := range []struct{ column, value string }{
		{"email_key", invite.EmailKey(f.Email)}, {"phone_key", f.Phone}, {"user_key", f.UserID}, {"inviter_id", f.InviterID},
		{s.dl.filterColumn(fcClientID), f.ClientID}, {s.dl.filterColumn(fcTemplateKey), f.TemplateKey},
	} {
		if c.value != "" {
			where = append(where, c.column+" = "+a.add(c.value))
		}
	}
	for _, c := range []struct{ array, value string }{{"roles", f.Role}, {"groups", f.Group}} {
		if c.value != "" {
			where = append(where, s.dl.holds(c.array, a.add(s.dl.holdsArg(c.value))))
		}
	}
	if f.Resent != nil {
		// The document's count, a missing key read as 0 (rows written
		// before the count existed). No index covers it, and none is
		// needed: it is checked on the rows the other conditions select,
		// as the roles and groups are.
		op := " <= 0" // not above zero, as invite.Filter.Matches reads it
		if *f.Resent {
			op = " > 0"
		}
		where = append(where, "COALESCE("+s.dl.resendCount()+", 0)"+op)
	}
	if f.Search != "" {
		// A prefix as a range in byte order, [prefix, the next string
		// that does not start with it): an index range on every dialect,
		// with nothing in the text read as a wildcard.
		name, email := invite.SearchKey(f.Search), invite.EmailKey(f.Search)
		var ors []string
		for _, c := range []struct{ column, prefix string }{
			{"search_name", name}, {"search_family", name}, {s.dl.filterColumn(fcEmail), email},
		} {
			cond := c.column + " >= " + a.add(c.prefix)
			if hi := prefixEnd(c.prefix); hi != "" {
				cond += " AND " + c.column + " < " + a.add(hi)
			}
			ors = append(ors, "("+cond+")")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, "created_at >= "+a.add(s.dl.timeValue(f.CreatedFrom)))
	}
	if !f.CreatedTo.IsZero() {
		where = append(where, "created_at < "+a.add(s.dl.timeValue(f.CreatedTo)))
	}
	return where
}

// prefixEnd returns the least string, in byte order, greater than every
// string that starts with p: p with its last character replaced by the
// next one (UTF-8 orders bytes as it orders code points), skipping the
// surrogates and dropping trailing U+10FFFF; "" when there is none.
func prefixEnd(p string) string {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		switch {
		case r == utf8.RuneError && size <= 1:
			continue // not UTF-8: no bound is safer than a wrong one
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF:
			r = 0xE000
		default:
			r++
		}
		return p + string(r)
	}
	return ""
}

// holdsArgJSON is the argument of holds on PostgreSQL, a JSON array of
// v, and on MySQL, v as a JSON string.
func holdsArgJSON(v string, array bool) any {
	var b []byte
	if array {
		b, _ = json.Marshal([]string{v}) // a string always encodes
	} else {
		b, _ = json.Marshal(v)
	}
	return string(b)
}

// stateCond returns the SQL condition of f's state filter on the effective
// state at now (an open invitation whose expires_at is at or before now
// is expired), or "" when every state passes.
func (s *Store) stateCond(a *args, f *invite.Filter, now time.Time) string {
	at := s.dl.timeValue(now)
	states := f.WantedStates()
	if len(states) == 0 {
		if f.IncludeExpired {
			return ""
		}
		return "(state IN ('accepted', 'rejected', 'revoked') OR (state IN " + openStates + " AND expires_at > " + a.add(at) + "))"
	}
	var open, closed []string
	expired := false
	for _, st := range states {
		lit := "'" + string(st) + "'" // only the known states below reach the SQL
		switch st {
		case invite.StatePending, invite.StateSent:
			if !slices.Contains(open, lit) {
				open = append(open, lit)
			}
		case invite.StateAccepted, invite.StateRejected, invite.StateRevoked:
			if !slices.Contains(closed, lit) {
				closed = append(closed, lit)
			}
		case invite.StateExpired:
			expired = true
		}
	}
	var ors []string
	if len(closed) > 0 {
		ors = append(ors, "state IN ("+strings.Join(closed, ", ")+")")
	}
	if len(open) > 0 {
		ors = append(ors, "(state IN ("+strings.Join(open, ", ")+") AND expires_at > "+a.add(at)+")")
	}
	if expired {
		ors = append(ors, "(state = 'expired' OR (state IN "+openStates+" AND expires_at <= "+a.add(at)+"))")
	}
	if len(ors) == 0 {
		return "1 = 0" // only unknown states: nothing matches
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// Count implements invite.Counter: one SELECT count(*) with List's
// conditions, on the same indexes.
func (s *Store) Count(ctx context.Context, tenantID string, f invite.Filter, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a := &args{dl: s.dl}
	where := s.filterWhere(a, tenantID, &f, now)
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+s.invitations+" WHERE "+strings.Join(where, " AND "), a.vals...).Scan(&n)
	if err != nil {
		return 0, wrap("count", err)
	}
	return int(n), nil
}
