package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// The invitation every Create of the benchmark makes (library and raw
// alike): an email invitee with names, an inviter, one role, one group and
// two pre-filled fields, returned to the caller rather than delivered.
var (
	benchInviter = invite.Inviter{ID: "admin-1", Name: "Grace Hopper"}
	benchRoles   = []string{"member"}
	benchGroups  = []string{"engineering"}
	benchData    = map[string]string{"team": "core", "plan": "pro"}
)

const (
	givenName  = "Ada"
	familyName = "Lovelace"
	// validity is the library's default expiry, which raw rows copy.
	validity = 7 * 24 * time.Hour
	// templateKey is the library's default template key.
	templateKey = "invite"
)

// createInput is the library's input for one invitation.
func createInput(tenant, email string) invite.CreateInput {
	return invite.CreateInput{
		TenantID: tenant, Invitee: invite.Invitee{Email: email},
		GivenName: givenName, FamilyName: familyName, Inviter: benchInviter,
		Roles: benchRoles, Groups: benchGroups, Data: benchData,
		Delivery: invite.DeliveryReturn,
	}
}

// newInvitation builds, by hand, the invitation the library's Create makes
// from createInput(tenant, email) at now: the raw baseline's document and
// the bulk loader's rows.
func newInvitation(tenant, email string, now time.Time) invite.Invitation {
	return invite.Invitation{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant, Invitee: invite.Invitee{Email: email},
		GivenName: givenName, FamilyName: familyName, Inviter: benchInviter,
		Roles: benchRoles, Groups: benchGroups, Data: benchData, TemplateKey: templateKey,
		State: invite.StatePending, CreatedAt: now, UpdatedAt: now, IssuedAt: now,
		ExpiresAt: now.Add(validity), Version: 1,
	}
}

// now is a clock reading as the library takes it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// tables holds the prefixed table names.
type tables struct{ invitations, tokens, outbox, migrations string }

func tableNames(prefix string) tables {
	return tables{prefix + "invitations", prefix + "tokens", prefix + "outbox", prefix + "schema_migrations"}
}

// rawClient is the hand-written baseline: the same rows as the library,
// written with the same driver and pool in the statements a host would
// naturally use, with no validation, no abstraction and no retries.
//
//   - Create: mint a token (32 random bytes, SHA-256), marshal the document
//     and the created event; PostgreSQL: one statement (a CTE inserting the
//     invitation, its token row and the outbox row); SQLite and MySQL: BEGIN,
//     three INSERTs, COMMIT.
//   - Lookup: SHA-256 of the token, one SELECT of the document joining the
//     token row to its invitation, unmarshal, check state and expiry.
//   - Accept: the Lookup's SELECT, then the accepted document and event, and
//     the single-use guard UPDATE ... WHERE tenant_id = ? AND id = ? AND
//     version = ? AND state IN ('pending', 'sent') with the outbox row:
//     PostgreSQL one CTE statement (rows affected from RETURNING); SQLite and
//     MySQL BEGIN, UPDATE (rows affected checked), INSERT, COMMIT.
//
// On SQLite its write transactions take a process-wide mutex, as the
// library's own write queue does: writers queueing in SQLite's busy handler
// instead would make the baseline slower, not faster.
type rawClient struct {
	db      *sql.DB
	d       sqlstore.Dialect
	writeMu sync.Mutex

	createPG, lookup, acceptPG         string
	insInvitation, insToken, insOutbox string
	updAccept                          string
	timeValue                          func(time.Time) any
}

// rawInvitationColumns are the columns a raw insert writes: every column
// the library's insert sets to a non-NULL value for these invitations.
const rawInvitationColumns = "tenant_id, id, version, state, email_key, inviter_id, created_at, expires_at, doc, token_hash, " +
	"search_name, search_family"

// searchName and searchFamily are the name search's keys of givenName and
// familyName (the library's, as its writes store them).
var searchName, searchFamily = (&invite.Invitation{GivenName: givenName, FamilyName: familyName}).NameKeys()

const outboxColumns = "id, tenant_id, invitation_id, type, payload, created_at, available_at"

func newRawClient(db *sql.DB, d sqlstore.Dialect, t tables) *rawClient {
	r := &rawClient{db: db, d: d, timeValue: timeValuer(d)}
	r.lookup = "SELECT i.doc FROM " + t.tokens + " k JOIN " + t.invitations +
		" i ON i.tenant_id = k.tenant_id AND i.id = k.invitation_id WHERE k.token_hash = ?"
	if d == sqlstore.Postgres {
		r.lookup = rebind(r.lookup)
		r.createPG = "WITH i AS (INSERT INTO " + t.invitations + " (" + rawInvitationColumns + ")" +
			" VALUES ($1, $2, 1, 'pending', $3, $4, $5, $6, $7, $8, $11, $12))" +
			", k AS (INSERT INTO " + t.tokens + " (token_hash, tenant_id, invitation_id) VALUES ($8, $1, $2))" +
			" INSERT INTO " + t.outbox + " (" + outboxColumns + ") VALUES ($9, $1, $2, 'invitation.created', $10, $5, $5)"
		r.acceptPG = "WITH u AS (UPDATE " + t.invitations + " SET version = $1, state = 'accepted', closed_at = $2, doc = $3" +
			" WHERE tenant_id = $4 AND id = $5 AND version = $6 AND state IN ('pending', 'sent') RETURNING 1)" +
			", o AS (INSERT INTO " + t.outbox + " (" + outboxColumns + ")" +
			" SELECT $7::text, $4, $5, 'invitation.accepted', $8::jsonb, $2, $2 WHERE EXISTS (SELECT 1 FROM u))" +
			" SELECT count(*) FROM u"
		return r
	}
	r.insInvitation = "INSERT INTO " + t.invitations + " (" + rawInvitationColumns + ") VALUES (?, ?, 1, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)"
	r.insToken = "INSERT INTO " + t.tokens + " (token_hash, tenant_id, invitation_id) VALUES (?, ?, ?)"
	r.insOutbox = "INSERT INTO " + t.outbox + " (" + outboxColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?)"
	r.updAccept = "UPDATE " + t.invitations + " SET version = ?, state = 'accepted', closed_at = ?, doc = ?" +
		" WHERE tenant_id = ? AND id = ? AND version = ? AND state IN ('pending', 'sent')"
	return r
}

// timeValuer returns how the dialect's time columns take a time: unix
// microseconds on SQLite, a time.Time in UTC elsewhere.
func timeValuer(d sqlstore.Dialect) func(time.Time) any {
	if d == sqlstore.SQLite {
		return func(t time.Time) any { return t.UnixMicro() }
	}
	return func(t time.Time) any { return t }
}

// rebind turns ? placeholders into $1, $2, ...
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

var errRawConflict = errors.New("raw: the invitation changed or is no longer open")

// create stores a new invitation and returns its token.
func (r *rawClient) create(ctx context.Context, tenant, email string) (string, error) {
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	token := invite.DefaultTokenPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	hash := sha256.Sum256([]byte(token))
	at := now()
	inv := newInvitation(tenant, email, at)
	doc, err := json.Marshal(&inv)
	if err != nil {
		return "", err
	}
	ev := invite.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: invite.EventCreated, Time: at,
		TenantID: tenant, InvitationID: inv.ID, Actor: invite.Actor{Kind: invite.ActorAdmin}, New: &inv}
	payload, err := json.Marshal(&ev)
	if err != nil {
		return "", err
	}
	ts := r.timeValue(at)
	emailKey := strings.ToLower(email)
	if r.d == sqlstore.Postgres {
		_, err := r.db.ExecContext(ctx, r.createPG, tenant, inv.ID, emailKey, benchInviter.ID, ts, r.timeValue(inv.ExpiresAt),
			string(doc), hash[:], ev.ID, string(payload), searchName, searchFamily)
		return token, err
	}
	return token, r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, r.insInvitation, tenant, inv.ID, emailKey, benchInviter.ID, ts,
			r.timeValue(inv.ExpiresAt), string(doc), hash[:], searchName, searchFamily); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, r.insToken, hash[:], tenant, inv.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, r.insOutbox, ev.ID, tenant, inv.ID, string(invite.EventCreated), string(payload), ts, ts)
		return err
	})
}

// inTx runs fn in a transaction (holding the write mutex on SQLite).
func (r *rawClient) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if r.d == sqlstore.SQLite {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// find reads and decodes the invitation of a token and checks that it is
// open.
func (r *rawClient) find(ctx context.Context, token string) (*invite.Invitation, error) {
	hash := sha256.Sum256([]byte(token))
	var doc []byte
	if err := r.db.QueryRowContext(ctx, r.lookup, hash[:]).Scan(&doc); err != nil {
		return nil, err
	}
	inv := &invite.Invitation{}
	if err := json.Unmarshal(doc, inv); err != nil {
		return nil, err
	}
	if (inv.State != invite.StatePending && inv.State != invite.StateSent) || !now().Before(inv.ExpiresAt) {
		return nil, fmt.Errorf("raw: invitation %s is %s or expired", inv.ID, inv.State)
	}
	return inv, nil
}

// accept accepts the token's invitation for subject, exactly once.
func (r *rawClient) accept(ctx context.Context, token, subject string) error {
	old, err := r.find(ctx, token)
	if err != nil {
		return err
	}
	at := now()
	next := *old
	next.State, next.AcceptedBy, next.ClosedAt, next.UpdatedAt = invite.StateAccepted, subject, at, at
	next.Version = old.Version + 1
	doc, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	ev := invite.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: invite.EventAccepted, Time: at,
		TenantID: old.TenantID, InvitationID: old.ID, Actor: invite.Actor{Kind: invite.ActorInvitee, ID: subject},
		Old: old, New: &next}
	payload, err := json.Marshal(&ev)
	if err != nil {
		return err
	}
	ts := r.timeValue(at)
	if r.d == sqlstore.Postgres {
		var n int64
		if err := r.db.QueryRowContext(ctx, r.acceptPG, next.Version, ts, string(doc), old.TenantID, old.ID, old.Version,
			ev.ID, string(payload)).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return errRawConflict
		}
		return nil
	}
	return r.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, r.updAccept, next.Version, ts, string(doc), old.TenantID, old.ID, old.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return errRawConflict
		}
		_, err = tx.ExecContext(ctx, r.insOutbox, ev.ID, old.TenantID, old.ID, string(invite.EventAccepted), string(payload), ts, ts)
		return err
	})
}
