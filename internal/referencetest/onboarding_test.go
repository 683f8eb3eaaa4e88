package referencetest

// Reference 001 (001_0153f5f061db9a1d.txt): a payments platform mints a
// self-serve onboarding link for a merchant's contact.
//
//	POST /api/Invitations, Authorization: Bearer <token>
//	{"merchantId": uuid, "firstName", "lastName" (1..100), "email" (<= 256),
//	 "phone" (<= 50), "expiresInDays" (1..90, nullable)}
//
// answers {"outcome": "Ok", "invitationId", "token", "expiresAt", "email",
// "phone"}, the plaintext token exactly once (only its SHA-256 is
// stored), or RFC 9457 problem details: 400 when neither email nor phone
// was given (NoDeliveryChannel) or validation failed, 404 when the
// merchant does not exist (MerchantNotFound). This flow runs on sqlstore
// (SQLite), whose every table the test reads for the plaintext.

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/sqlstore"
)

type onboardingRequest struct {
	MerchantID    string  `json:"merchantId"`
	FirstName     string  `json:"firstName"`
	LastName      string  `json:"lastName"`
	Email         *string `json:"email"`
	Phone         *string `json:"phone"`
	ExpiresInDays *int    `json:"expiresInDays"`
}

type onboardingResponse struct {
	Outcome      string     `json:"outcome"`
	InvitationID *string    `json:"invitationId"`
	Token        *string    `json:"token"`
	ExpiresAt    *time.Time `json:"expiresAt"`
	Email        *string    `json:"email"`
	Phone        *string    `json:"phone"`
}

// The outcomes of the reference.
const (
	outcomeOk                = "Ok"
	outcomeMerchantNotFound  = "MerchantNotFound"
	outcomeNoDeliveryChannel = "NoDeliveryChannel"
)

// onboardingProblemBase is the host's own problem type base, for the
// problems it answers itself.
const onboardingProblemBase = "https://payments.example/problems/"

// onboardingHost is the host of reference 001: each merchant is a tenant.
type onboardingHost struct {
	*host
	db        *sql.DB
	clock     *invitetest.Clock
	merchants map[uuid.UUID]bool
}

func newOnboardingHost(t *testing.T) *onboardingHost {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "invite.db")+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(t.Context()))
	clock := invitetest.NewClock(invitetest.Start)
	m, err := invite.New(store, invite.Config{Now: clock.Now, RequireNames: true,
		LinkTemplate: "https://onboarding.example/start?token={{.Token}}"})
	require.NoError(t, err)
	h := &onboardingHost{db: db, clock: clock,
		merchants: map[uuid.UUID]bool{uuid.MustParse("2489E9AD-2EE2-8E00-8EC9-32D5F69181C0"): true}}
	h.host = newHost(t, invitehttp.Config{Manager: m, Retryable: sqlstore.IsRetryable,
		// The reference answers invalid input with 400.
		InvalidStatus: http.StatusBadRequest,
		// The platform's operators ("Bearer ops") onboard every merchant.
		Authorize: func(r *http.Request, _ string, a invitehttp.Action) error {
			switch {
			case a.Public():
				return nil
			case r.Header.Get("Authorization") == "":
				return invitehttp.ErrUnauthenticated
			case r.Header.Get("Authorization") != "Bearer ops":
				return invitehttp.ErrForbidden
			}
			return nil
		}})
	h.handle("POST /api/Invitations", h.create)
	return h
}

// onboardingPointers renames the pointers of the library's input to the
// reference's members: the inverse of the glue's field mapping.
var onboardingPointers = map[string]string{
	"/invitee/email": "/email", "/invitee/phone": "/phone", "/invitee": "",
	"/given_name": "/firstName", "/family_name": "/lastName", "/expires_in_days": "/expiresInDays",
}

func (h *onboardingHost) create(w http.ResponseWriter, r *http.Request) {
	var req onboardingRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, "application/problem+json", map[string]any{
			"type": onboardingProblemBase + "malformed-request", "title": "The request is malformed", "status": 400,
			"detail": "the body must be one JSON object with the members of the request"})
		return
	}
	id, err := uuid.Parse(req.MerchantID)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, "application/problem+json", map[string]any{
			"type": onboardingProblemBase + "validation", "title": "The request has invalid fields", "status": 400,
			"detail": "merchantId must be a UUID",
			"errors": []problemField{{Pointer: "/merchantId", Code: invite.CodeInvalidFormat, Reason: "must be a UUID"}}})
		return
	}
	if !h.merchants[id] { // the host's own lookup
		writeJSON(w, http.StatusNotFound, "application/problem+json", map[string]any{
			"type": onboardingProblemBase + "merchant-not-found", "title": "Merchant not found", "status": 404,
			"detail": "no merchant has this merchantId", "outcome": outcomeMerchantNotFound})
		return
	}
	// expiresInDays passes as it came: null or left out is the default,
	// and 0 is refused by the library as out of range.
	in := invite.CreateInput{GivenName: req.FirstName, FamilyName: req.LastName, ExpiresInDays: req.ExpiresInDays,
		Delivery: invite.DeliveryReturn}
	if req.Email != nil {
		in.Invitee.Email = *req.Email
	}
	if req.Phone != nil {
		in.Invitee.Phone = *req.Phone
	}
	rep, err := h.call(r, "POST", "/tenants/"+id.String()+"/invitations", in)
	if err != nil {
		h.fail(w, err)
		return
	}
	if rep.isProblem() {
		if err := onboardingProblem(w, rep); err != nil {
			h.fail(w, err)
		}
		return
	}
	var res struct {
		Invitation invite.Invitation `json:"invitation"`
		Token      string            `json:"token"`
	}
	if err := json.Unmarshal(rep.body, &res); err != nil {
		h.fail(w, err)
		return
	}
	inv := res.Invitation
	out := onboardingResponse{Outcome: outcomeOk, InvitationID: &inv.ID, Token: &res.Token, ExpiresAt: &inv.ExpiresAt}
	if inv.Invitee.Email != "" {
		out.Email = &inv.Invitee.Email
	}
	if inv.Invitee.Phone != "" {
		out.Phone = &inv.Invitee.Phone
	}
	writeJSON(w, http.StatusOK, "", out)
}

// onboardingProblem answers a problem of the library's API as the
// reference's, with the outcome when it is one.
func onboardingProblem(w http.ResponseWriter, rep *reply) error {
	return relayProblem(w, rep, onboardingPointers, func(doc map[string]any, p problemDoc) {
		for _, e := range p.Errors {
			// ErrNoDeliveryChannel reaches the wire as its own code.
			if e.Code == invite.CodeNoDeliveryChannel {
				doc["outcome"] = outcomeNoDeliveryChannel
			}
		}
	})
}

const merchant = "2489E9AD-2EE2-8E00-8EC9-32D5F69181C0"

// The reference's example request mints a link: the token comes back
// once, the database holds its SHA-256 and never the token, and no later
// answer carries it; the link works.
func TestSelfServeOnboardingLinkTokenOnceHashOnly(t *testing.T) {
	h := newOnboardingHost(t)
	c := h.client("Authorization", "Bearer ops")
	rep := c.do("POST", "/api/Invitations", `{"merchantId":"`+merchant+`","firstName":"example","lastName":"example","email":"hello@example.com","expiresInDays":1}`)
	var out onboardingResponse
	rep.expect(t, http.StatusOK, &out)
	require.Equal(t, outcomeOk, out.Outcome)
	require.NotNil(t, out.Token)
	token := *out.Token
	require.NotNil(t, out.InvitationID)
	_, err := uuid.Parse(*out.InvitationID)
	require.NoError(t, err)
	require.Equal(t, invitetest.Start.Add(24*time.Hour), out.ExpiresAt.UTC())
	require.Equal(t, "hello@example.com", *out.Email)
	require.Nil(t, out.Phone)
	require.Contains(t, string(rep.body), `"phone":null`)

	// Only the SHA-256 is stored: every value of every table of the
	// database, read as bytes, holds neither the token nor its random
	// part, and the tokens' and invitations' token_hash is its SHA-256.
	sum := sha256.Sum256([]byte(token))
	body := strings.TrimPrefix(token, invite.DefaultTokenPrefix)
	hashes := 0
	for table, rows := range dumpSQLite(t, h.db) {
		for _, row := range rows {
			for col, v := range row {
				require.False(t, bytes.Contains(v, []byte(body)), "%s.%s holds the token", table, col)
				require.False(t, bytes.Contains(v, []byte(hex.EncodeToString(sum[:]))), "%s.%s holds the hash in hex", table, col)
				if col == "token_hash" && bytes.Equal(v, sum[:]) {
					hashes++
				}
			}
		}
	}
	require.Equal(t, 2, hashes, "invite_invitations.token_hash and invite_tokens.token_hash")

	// The token is not in any later answer, the admin's included.
	for _, path := range []string{"/api/invite/tenants/" + strings.ToLower(merchant) + "/invitations/" + *out.InvitationID,
		"/api/invite/tenants/" + strings.ToLower(merchant) + "/invitations?include_expired=true"} {
		rep := c.do("GET", path, nil)
		require.Equal(t, http.StatusOK, rep.status, "body: %s", rep.body)
		require.NotContains(t, string(rep.body), body)
	}
	// A second link for the same contact is refused while this one is
	// open; it does not hand the token out again.
	rep = c.do("POST", "/api/Invitations", `{"merchantId":"`+merchant+`","firstName":"example","lastName":"example","email":"HELLO@example.com"}`)
	require.Equal(t, http.StatusConflict, rep.status, "body: %s", rep.body)
	require.NotContains(t, string(rep.body), body)

	// The link works, and the page greets the contact by name.
	var view invite.PublicInvitation
	h.client().do("GET", "/api/invite/public/invitations/"+token, nil).expect(t, http.StatusOK, &view)
	require.Equal(t, "example", view.GivenName)
	require.Equal(t, out.ExpiresAt.UTC(), view.ExpiresAt)
}

// dumpSQLite reads every row of every table of db, each value as bytes.
func dumpSQLite(t *testing.T, db *sql.DB) map[string][]map[string][]byte {
	t.Helper()
	ctx := t.Context()
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Contains(t, tables, "invite_invitations")
	out := map[string][]map[string][]byte{}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %q", table))
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			row := map[string][]byte{}
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					row[cols[i]] = v
				case string:
					row[cols[i]] = []byte(v)
				case nil:
				default:
					row[cols[i]] = fmt.Append(nil, v)
				}
			}
			out[table] = append(out[table], row)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return out
}

// Each bound of the reference's request, and its three outcomes: Ok, or
// a problem with the outcome MerchantNotFound or NoDeliveryChannel.
func TestSelfServeOnboardingLinkBoundsAndOutcomes(t *testing.T) {
	h := newOnboardingHost(t)
	c := h.client("Authorization", "Bearer ops")
	name100 := strings.Repeat("é", 100)
	email256 := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".io"
	require.Len(t, email256, 256)
	n := 0
	// req returns a request for a fresh contact, with edits.
	req := func(edit func(r map[string]any)) map[string]any {
		n++
		r := map[string]any{"merchantId": merchant, "firstName": "Ada", "lastName": "Lovelace",
			"email": fmt.Sprintf("contact%d@example.com", n)}
		if edit != nil {
			edit(r)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		body    map[string]any
		status  int
		outcome string
		at      []string // the problem's errors
		expires time.Duration
	}{
		{"defaults to 7 days", req(nil), 200, outcomeOk, nil, 7 * 24 * time.Hour},
		{"expiresInDays null", req(func(r map[string]any) { r["expiresInDays"] = nil }), 200, outcomeOk, nil, 7 * 24 * time.Hour},
		{"1 day", req(func(r map[string]any) { r["expiresInDays"] = 1 }), 200, outcomeOk, nil, 24 * time.Hour},
		{"90 days", req(func(r map[string]any) { r["expiresInDays"] = 90 }), 200, outcomeOk, nil, 90 * 24 * time.Hour},
		{"0 days", req(func(r map[string]any) { r["expiresInDays"] = 0 }), 400, "", []string{"/expiresInDays=out_of_range"}, 0},
		{"91 days", req(func(r map[string]any) { r["expiresInDays"] = 91 }), 400, "", []string{"/expiresInDays=out_of_range"}, 0},
		{"-1 days", req(func(r map[string]any) { r["expiresInDays"] = -1 }), 400, "", []string{"/expiresInDays=out_of_range"}, 0},
		{"phone only", req(func(r map[string]any) { delete(r, "email"); r["phone"] = "+49 30 1234567" }), 200, outcomeOk, nil, 7 * 24 * time.Hour},
		{"names of 100 characters", req(func(r map[string]any) { r["firstName"], r["lastName"] = name100, name100 }), 200, outcomeOk, nil, 7 * 24 * time.Hour},
		{"email of 256 characters", req(func(r map[string]any) { r["email"] = email256 }), 200, outcomeOk, nil, 7 * 24 * time.Hour},
		{"no email nor phone", req(func(r map[string]any) { delete(r, "email") }), 400, outcomeNoDeliveryChannel, []string{"=no_delivery_channel"}, 0},
		{"null email and phone", req(func(r map[string]any) { r["email"], r["phone"] = nil, nil }), 400, outcomeNoDeliveryChannel, []string{"=no_delivery_channel"}, 0},
		{"unknown merchant", req(func(r map[string]any) { r["merchantId"] = uuid.NewString() }), 404, outcomeMerchantNotFound, nil, 0},
		{"merchantId not a uuid", req(func(r map[string]any) { r["merchantId"] = "acme" }), 400, "", []string{"/merchantId=invalid_format"}, 0},
		{"names missing", req(func(r map[string]any) { delete(r, "firstName"); r["lastName"] = " " }), 400, "",
			[]string{"/firstName=required", "/lastName=required"}, 0},
		{"names of 101 characters", req(func(r map[string]any) { r["firstName"], r["lastName"] = name100+"x", name100+"x" }), 400, "",
			[]string{"/firstName=too_long", "/lastName=too_long"}, 0},
		{"email of 257 characters", req(func(r map[string]any) { r["email"] = "a" + email256 }), 400, "", []string{"/email=too_long"}, 0},
		{"phone of 51 characters", req(func(r map[string]any) { r["phone"] = "+49 30 1234567" + strings.Repeat(" ", 37) }), 400, "",
			[]string{"/phone=too_long"}, 0},
		{"the reference's phone example", req(func(r map[string]any) { r["phone"] = "example" }), 400, "", []string{"/phone=invalid_format"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := c.do("POST", "/api/Invitations", tc.body)
			require.Equal(t, tc.status, rep.status, "body: %s", rep.body)
			if tc.status == http.StatusOK {
				var out onboardingResponse
				rep.decode(t, &out)
				require.Equal(t, outcomeOk, out.Outcome)
				require.NotEmpty(t, *out.Token)
				require.Equal(t, invitetest.Start.Add(tc.expires), out.ExpiresAt.UTC())
				return
			}
			require.Equal(t, "application/problem+json", rep.header.Get("Content-Type"))
			var doc struct {
				problemDoc
				Outcome string `json:"outcome"`
			}
			rep.decode(t, &doc)
			require.Equal(t, tc.status, doc.Status)
			require.NotEmpty(t, doc.Type)
			require.NotEmpty(t, doc.Title)
			require.NotEmpty(t, doc.Detail)
			require.Equal(t, tc.outcome, doc.Outcome)
			got := doc.at()
			slices.Sort(got)
			require.Equal(t, tc.at, got)
		})
	}
	t.Run("not authenticated", func(t *testing.T) {
		rep := h.client().do("POST", "/api/Invitations", req(nil))
		require.Equal(t, http.StatusUnauthorized, rep.status, "body: %s", rep.body)
		require.Equal(t, "application/problem+json", rep.header.Get("Content-Type"))
	})
}
