package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/invitekit/invite/sqlstore"
)

// user is a row of the application's own users table.
type user struct {
	ID           string
	TenantID     string
	InvitationID string
	Email        string
	GivenName    string
	FamilyName   string
	Locale       string
	AccountName  string
	Roles        []string
	Groups       []string
	// Fields are the custom fields of the registration form, by name.
	Fields    map[string]string
	CreatedAt time.Time
}

// users is the application's users table, example_users: the library
// never sees it.
type users struct {
	dialect sqlstore.Dialect
}

// errEmailTaken: the tenant has a user with that email already.
var errEmailTaken = errors.New("a user with this email exists already")

const usersTable = `CREATE TABLE IF NOT EXISTS example_users (
	id            TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL,
	invitation_id TEXT NOT NULL,
	email         TEXT NOT NULL,
	given_name    TEXT NOT NULL,
	family_name   TEXT NOT NULL,
	locale        TEXT NOT NULL,
	account_name  TEXT NOT NULL,
	role_names    TEXT NOT NULL,
	group_names   TEXT NOT NULL,
	fields        TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	UNIQUE (tenant_id, email)
)`

func (u *users) migrate(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, usersTable)
	return err
}

// q writes the statement's ? placeholders as the dialect wants them.
func (u *users) q(query string) string {
	if u.dialect != sqlstore.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insert adds usr, or returns errEmailTaken. Inside the transaction of the
// acceptance, SQLite's (BEGIN IMMEDIATE) serialises it with every other
// write; on PostgreSQL two registrations racing for one email both pass
// the check and the unique index refuses the second (a server error).
func (u *users) insert(ctx context.Context, q querier, usr *user) error {
	var n int
	err := q.QueryRowContext(ctx, u.q("SELECT COUNT(*) FROM example_users WHERE tenant_id = ? AND email = ?"),
		usr.TenantID, usr.Email).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return errEmailTaken
	}
	roles, _ := json.Marshal(nonNil(usr.Roles))
	groups, _ := json.Marshal(nonNil(usr.Groups))
	fields, _ := json.Marshal(usr.Fields)
	_, err = q.ExecContext(ctx, u.q(`INSERT INTO example_users (id, tenant_id, invitation_id, email, given_name,
		family_name, locale, account_name, role_names, group_names, fields, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		usr.ID, usr.TenantID, usr.InvitationID, usr.Email, usr.GivenName, usr.FamilyName, usr.Locale,
		usr.AccountName, string(roles), string(groups), string(fields), usr.CreatedAt.UTC().Format(time.RFC3339Nano))
	return err
}

// get returns the user with id, or sql.ErrNoRows.
func (u *users) get(ctx context.Context, q querier, id string) (*user, error) {
	var usr user
	var roles, groups, fields, created string
	err := q.QueryRowContext(ctx, u.q(`SELECT id, tenant_id, invitation_id, email, given_name, family_name, locale,
		account_name, role_names, group_names, fields, created_at FROM example_users WHERE id = ?`), id).
		Scan(&usr.ID, &usr.TenantID, &usr.InvitationID, &usr.Email, &usr.GivenName, &usr.FamilyName, &usr.Locale,
			&usr.AccountName, &roles, &groups, &fields, &created)
	if err != nil {
		return nil, err
	}
	err = errors.Join(json.Unmarshal([]byte(roles), &usr.Roles), json.Unmarshal([]byte(groups), &usr.Groups),
		json.Unmarshal([]byte(fields), &usr.Fields))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", id, err)
	}
	usr.CreatedAt, err = time.Parse(time.RFC3339Nano, created)
	return &usr, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// grant adds roles and groups to the existing user usr (an invitation to
// an existing user id).
func (u *users) grant(ctx context.Context, q querier, usr *user, roles, groups []string) error {
	usr.Roles = union(usr.Roles, roles)
	usr.Groups = union(usr.Groups, groups)
	r, _ := json.Marshal(nonNil(usr.Roles))
	g, _ := json.Marshal(nonNil(usr.Groups))
	_, err := q.ExecContext(ctx, u.q("UPDATE example_users SET role_names = ?, group_names = ? WHERE id = ?"),
		string(r), string(g), usr.ID)
	return err
}

// union appends to a what b has that a lacks.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
