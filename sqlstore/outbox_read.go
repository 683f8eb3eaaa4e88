package sqlstore

// Reading outbox rows back: scanning, payload decoding and times.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/invitekit/invite"
)

// writeOnce runs fn, which sends one write statement, on the Store's DBTX:
// with no transaction around it, once the Store may write (see
// lockWrites), or in the host's transaction.
func (s *Store) writeOnce(ctx context.Context, fn func(ex DBTX) error) error {
	if s.begin != nil {
		release, err := s.lockWrites(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	return fn(s.db)
}

// queryEntries runs q and returns the outbox rows it selects (the columns
// of entryColumns).
func (s *Store) queryEntries(ctx context.Context, ex DBTX, op, q string, vals ...any) ([]*invite.OutboxEntry, error) {
	rows, err := ex.QueryContext(ctx, q, vals...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []*invite.OutboxEntry
	for rows.Next() {
		e, err := scanEntry(op, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// scanEntry scans the columns of entryColumns, and then into extra, and
// decodes the entry. A row that does not decode is an *Error naming op.
func scanEntry(op string, sc scanner, extra ...any) (*invite.OutboxEntry, error) {
	e := &invite.OutboxEntry{}
	var kind string
	var payload []byte
	var attempts int64
	var owner, lastError sql.NullString
	dest := append([]any{&e.ID, &kind, &e.TenantID, &e.InvitationID, &payload, timeDest{&e.CreatedAt}, &attempts,
		timeDest{&e.AvailableAt}, &owner, &lastError, timeDest{&e.DeliveredAt}, timeDest{&e.DeadAt}}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, wrap(op, err)
	}
	e.Kind, e.Attempts, e.Owner, e.LastError = invite.OutboxKind(kind), int(attempts), owner.String, lastError.String
	if err := decodePayload(e, payload); err != nil {
		return nil, &Error{Op: op, Err: fmt.Errorf("malformed outbox row %s: %w", e.ID, err)}
	}
	return e, nil
}

// decodePayload sets e.Event or e.Message from the payload of its row.
func decodePayload(e *invite.OutboxEntry, payload []byte) error {
	switch e.Kind {
	case invite.OutboxEvent:
		ev := &invite.Event{}
		if err := json.Unmarshal(payload, ev); err != nil {
			return fmt.Errorf("event payload: %w", err)
		}
		if !ev.Time.IsZero() {
			ev.Time = ev.Time.UTC()
		}
		for _, inv := range []*invite.Invitation{ev.Old, ev.New} {
			if inv != nil {
				utcTimes(inv)
			}
		}
		e.Event = ev
	case invite.OutboxMessage:
		var m messageJSON
		if err := json.Unmarshal(payload, &m); err != nil {
			return fmt.Errorf("message payload: %w", err)
		}
		e.Message = &invite.QueuedMessage{ID: e.ID, TenantID: e.TenantID, InvitationID: e.InvitationID,
			Resend: m.Resend, ResendCount: m.ResendCount, CreatedAt: e.CreatedAt, AvailableAt: m.AvailableAt.UTC()}
	default:
		return errors.New("unknown kind " + strconv.Quote(string(e.Kind)))
	}
	return nil
}

// timeDest scans a time column of any dialect into t, in UTC: a
// time.Time (PostgreSQL; MySQL with parseTime), unix microseconds
// (SQLite), or MySQL's text (without parseTime). NULL is the zero time.
type timeDest struct{ t *time.Time }

// mysqlTimeLayout is how MySQL sends a DATETIME(6) as text.
const mysqlTimeLayout = "2006-01-02 15:04:05.999999"

func (d timeDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = x.UTC()
	case int64:
		*d.t = time.UnixMicro(x).UTC()
	case []byte:
		return d.parse(string(x))
	case string:
		return d.parse(x)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as a time", v)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	t, err := time.ParseInLocation(mysqlTimeLayout, s, time.UTC)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("sqlstore: cannot parse the time %q", s)
		}
	}
	*d.t = t.UTC()
	return nil
}

// utcTimes sets the times of inv in UTC, as the document holds them.
func utcTimes(inv *invite.Invitation) {
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt, &inv.LastResentAt} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
}
