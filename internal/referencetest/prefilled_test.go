package referencetest

// Reference 000 (000_26d8185d3dffb9b2.txt): a KYC / contract-signing
// service creates an invitation session with pre-filled form data. The
// client sends
//
//	POST /api/IdentityUserSession/CreateInvitation
//	ApiKey: <the tenant's key>, Authorization: Bearer <admin>
//	{"SessionInput": {"phoneNumber", "email", "sessionPermissions":
//	  {"allowedContractTypeIds", "minimalSignatureFlow", "DigitalIdentityOnly"},
//	  "UserPublicKey", "RequestFieldsValues": {form id: {field key: value}}}}
//
// and reads every answer as the envelope {data, error_code,
// error_message, error_descriptions}: data is the invitation session
// token. The invitee then only confirms what was pre-filled.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
)

type createInvitationInput struct {
	SessionInput *sessionInput `json:"SessionInput"`
}

type sessionInput struct {
	PhoneNumber         *string                      `json:"phoneNumber"`
	Email               *string                      `json:"email"`
	SessionPermissions  *sessionPermissions          `json:"sessionPermissions"`
	UserPublicKey       *string                      `json:"UserPublicKey"`
	RequestFieldsValues map[string]map[string]string `json:"RequestFieldsValues"`
}

type sessionPermissions struct {
	AllowedContractTypeIDs []int `json:"allowedContractTypeIds"`
	MinimalSignatureFlow   bool  `json:"minimalSignatureFlow"`
	DigitalIdentityOnly    bool  `json:"DigitalIdentityOnly"`
}

// apiOutput is the reference's envelope, ApiOutputString: every member is
// always there, null when it does not apply.
type apiOutput struct {
	Data              *string         `json:"data"`
	ErrorCode         *int            `json:"error_code"`
	ErrorMessage      *string         `json:"error_message"`
	ErrorDescriptions json.RawMessage `json:"error_descriptions"`
}

// envelope answers a problem details document of the library's API as
// the reference's envelope. This is the whole mapping, for every error
// the library or the host answers with: the status is error_code, the
// detail error_message and the errors (each with its pointer, code and
// reason) error_descriptions. No table of error kinds is needed.
func envelope(w http.ResponseWriter, rep *reply) error {
	var p problemDoc
	var raw struct {
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(rep.body, &p); err != nil {
		return err
	}
	if err := json.Unmarshal(rep.body, &raw); err != nil {
		return err
	}
	out := apiOutput{ErrorCode: &p.Status, ErrorMessage: &p.Detail, ErrorDescriptions: raw.Errors}
	if out.ErrorDescriptions == nil {
		out.ErrorDescriptions = json.RawMessage("null")
	}
	writeJSON(w, p.Status, "", out)
	return nil
}

// prefilledHost is the host of reference 000.
type prefilledHost struct {
	*host
	m *invitetest.Harness
	// permsIn is where the glue keeps the session permissions: "metadata"
	// (the host's own JSON, never shown to the invitee) or "data" (flat
	// pre-filled values, shown on the invitee's page).
	permsIn string
	apiKeys map[string]string // ApiKey -> tenant

	mu       sync.Mutex
	sessions map[string]session // by the subject who confirmed
}

// session is what the host opens for an invitee who confirmed: the forms
// pre-filled and what the session may do.
type session struct {
	FormData    map[string]map[string]string
	Permissions sessionPermissions
	PublicKey   string
}

func newPrefilledHost(t *testing.T, permsIn string) *prefilledHost {
	t.Helper()
	h := &prefilledHost{m: invitetest.NewManager(t, invite.Config{}), permsIn: permsIn,
		apiKeys: map[string]string{"key-acme": "acme"}, sessions: map[string]session{}}
	h.host = newHost(t, invitehttp.Config{Manager: h.m.Manager, Accepted: h.accepted})
	h.handle("POST /api/IdentityUserSession/CreateInvitation", h.createInvitation)
	return h
}

// metadata is the JSON the glue keeps in Invitation.Metadata.
type metadata struct {
	SessionPermissions *sessionPermissions `json:"session_permissions,omitempty"`
	UserPublicKey      string              `json:"user_public_key,omitempty"`
}

func (h *prefilledHost) createInvitation(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.apiKeys[r.Header.Get("ApiKey")]
	if !ok {
		code, msg := http.StatusUnauthorized, "the ApiKey is not one of a tenant"
		writeJSON(w, code, "", apiOutput{ErrorCode: &code, ErrorMessage: &msg, ErrorDescriptions: json.RawMessage("null")})
		return
	}
	var body createInvitationInput
	if err := decodeStrict(w, r, &body); err != nil || body.SessionInput == nil {
		code, msg := http.StatusBadRequest, "the body must be {\"SessionInput\": {...}} with the members of CreateInvitationInput"
		writeJSON(w, code, "", apiOutput{ErrorCode: &code, ErrorMessage: &msg, ErrorDescriptions: json.RawMessage("null")})
		return
	}
	s := body.SessionInput
	in := invite.CreateInput{FormData: s.RequestFieldsValues, Delivery: invite.DeliveryReturn}
	if s.PhoneNumber != nil {
		in.Invitee.Phone = *s.PhoneNumber
	}
	if s.Email != nil {
		in.Invitee.Email = *s.Email
	}
	md := metadata{}
	if s.UserPublicKey != nil {
		md.UserPublicKey = *s.UserPublicKey
	}
	if p := s.SessionPermissions; p != nil {
		if h.permsIn == "data" {
			ids := make([]string, len(p.AllowedContractTypeIDs))
			for i, id := range p.AllowedContractTypeIDs {
				ids[i] = strconv.Itoa(id)
			}
			in.Data = map[string]string{"allowed_contract_type_ids": strings.Join(ids, ","),
				"minimal_signature_flow": strconv.FormatBool(p.MinimalSignatureFlow),
				"digital_identity_only":  strconv.FormatBool(p.DigitalIdentityOnly)}
		} else {
			md.SessionPermissions = p
		}
	}
	if md != (metadata{}) {
		b, err := json.Marshal(md)
		if err != nil {
			h.fail(w, err)
			return
		}
		in.Metadata = b
	}
	rep, err := h.call(r, "POST", "/tenants/"+tenant+"/invitations", in)
	if err == nil && rep.isProblem() {
		err = envelope(w, rep)
	} else if err == nil {
		var res struct {
			Token string `json:"token"`
		}
		if err = json.Unmarshal(rep.body, &res); err == nil {
			writeJSON(w, http.StatusOK, "", apiOutput{Data: &res.Token, ErrorDescriptions: json.RawMessage("null")})
		}
	}
	if err != nil {
		h.fail(w, err)
	}
}

// accepted opens the invitee's session with what the invitation carried.
func (h *prefilledHost) accepted(_ *http.Request, acc *invite.Acceptance) error {
	inv := acc.Invitation
	s := session{FormData: inv.FormData}
	var md metadata
	if len(inv.Metadata) > 0 {
		if err := json.Unmarshal(inv.Metadata, &md); err != nil {
			return err
		}
	}
	s.PublicKey = md.UserPublicKey
	if md.SessionPermissions != nil {
		s.Permissions = *md.SessionPermissions
	} else if d := inv.Data; d != nil {
		for id := range strings.SplitSeq(d["allowed_contract_type_ids"], ",") {
			n, err := strconv.Atoi(id)
			if err != nil {
				return err
			}
			s.Permissions.AllowedContractTypeIDs = append(s.Permissions.AllowedContractTypeIDs, n)
		}
		s.Permissions.MinimalSignatureFlow = d["minimal_signature_flow"] == "true"
		s.Permissions.DigitalIdentityOnly = d["digital_identity_only"] == "true"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions[inv.AcceptedBy] = s
	return nil
}

func (h *prefilledHost) session(subject string) (session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[subject]
	return s, ok
}

// referenceSessionInput is the reference's own example request.
const referenceSessionInput = `{"SessionInput":{"phoneNumber":"+201234567890","sessionPermissions":{"allowedContractTypeIds":[414],"minimalSignatureFlow":true,"DigitalIdentityOnly":false},"RequestFieldsValues":{"414":{"fullName":"Ahmed Mohamed","monthlyIncome":"5000"}}}}`

// The reference's example request creates an invitation whose token is
// the envelope's data; the invitee's page shows the pre-filled forms, and
// the invitee only confirms: the host's session gets the forms and the
// permissions, kept in Metadata (hidden from the invitee) or in Data
// (shown on the invitee's page).
func TestPrefilledInvitationWithFormValuesAndPermissions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		permsIn string
	}{
		{"permissions in metadata", "metadata"},
		{"permissions in data", "data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newPrefilledHost(t, tc.permsIn)
			c := h.client("ApiKey", "key-acme", "Authorization", "Bearer admin-acme")

			rep := c.do("POST", "/api/IdentityUserSession/CreateInvitation", referenceSessionInput)
			var out apiOutput
			rep.expect(t, http.StatusOK, &out)
			require.JSONEq(t, `{"data":"`+*out.Data+`","error_code":null,"error_message":null,"error_descriptions":null}`, string(rep.body))
			token := *out.Data
			require.True(t, strings.HasPrefix(token, "inv_"), token)

			// The invitee's page: the pre-filled forms, by form id.
			invitee := h.client()
			var view map[string]any
			invitee.do("GET", "/api/invite/public/invitations/"+token, nil).expect(t, http.StatusOK, &view)
			require.Equal(t, "+201234567890", view["phone"])
			require.Equal(t, map[string]any{"414": map[string]any{"fullName": "Ahmed Mohamed", "monthlyIncome": "5000"}}, view["form_data"])
			require.NotContains(t, view, "metadata", "the public view never shows the host's metadata")
			if tc.permsIn == "data" {
				require.Equal(t, map[string]any{"allowed_contract_type_ids": "414", "minimal_signature_flow": "true",
					"digital_identity_only": "false"}, view["data"])
			} else {
				require.NotContains(t, view, "data")
			}

			// The admin finds it by phone, with the permissions.
			var page struct {
				Invitations []invite.Invitation `json:"invitations"`
			}
			c.do("GET", "/api/invite/tenants/acme/invitations?phone=%2B201234567890", nil).expect(t, http.StatusOK, &page)
			require.Len(t, page.Invitations, 1)
			require.Equal(t, invite.StatePending, page.Invitations[0].State, "returned to the caller, not sent")
			if tc.permsIn == "metadata" {
				require.JSONEq(t, `{"session_permissions":{"allowedContractTypeIds":[414],"minimalSignatureFlow":true,"DigitalIdentityOnly":false}}`,
					string(page.Invitations[0].Metadata))
			}

			// The invitee confirms: nothing to fill in.
			var acc struct {
				Invitation invite.PublicInvitation `json:"invitation"`
				Replayed   bool                    `json:"replayed"`
			}
			invitee.do("POST", "/api/invite/public/invitations/"+token+"/accept", nil, "X-User", "u-ahmed").expect(t, http.StatusOK, &acc)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
			s, ok := h.session("u-ahmed")
			require.True(t, ok)
			require.Equal(t, map[string]map[string]string{"414": {"fullName": "Ahmed Mohamed", "monthlyIncome": "5000"}}, s.FormData)
			require.Equal(t, sessionPermissions{AllowedContractTypeIDs: []int{414}, MinimalSignatureFlow: true}, s.Permissions)

			// Confirming again replays; anyone else finds it used.
			invitee.do("POST", "/api/invite/public/invitations/"+token+"/accept", nil, "X-User", "u-ahmed").expect(t, http.StatusOK, &acc)
			require.True(t, acc.Replayed)
			rep = invitee.do("POST", "/api/invite/public/invitations/"+token+"/accept", nil, "X-User", "u-other")
			require.Equal(t, http.StatusGone, rep.status, "body: %s", rep.body)
		})
	}
}

// Every error, the library's and the host's, reaches the client as the
// envelope, built from the problem details alone.
func TestPrefilledInvitationErrorsInTheEnvelope(t *testing.T) {
	h := newPrefilledHost(t, "metadata")
	admin := []string{"ApiKey", "key-acme", "Authorization", "Bearer admin-acme"}
	h.client(admin...).do("POST", "/api/IdentityUserSession/CreateInvitation",
		`{"SessionInput":{"email":"taken@example.com"}}`).expect(t, http.StatusOK, nil)

	for _, tc := range []struct {
		name   string
		hdr    []string
		body   string
		status int
		at     []string // the pointers and codes of error_descriptions
	}{
		{"neither phone nor email", admin, `{"SessionInput":{"RequestFieldsValues":{"414":{"fullName":"Ahmed"}}}}`,
			422, []string{"/invitee=no_delivery_channel"}},
		{"phone without its country", admin, `{"SessionInput":{"phoneNumber":"01234567890"}}`,
			422, []string{"/invitee/phone=invalid_format"}},
		{"email and pre-filled value at fault", admin,
			`{"SessionInput":{"email":"not an email","RequestFieldsValues":{"414":{"fullName":"Ahmed\u0000"}}}}`,
			422, []string{"/invitee/email=invalid_format", "/form_data/414/fullName=invalid_format"}},
		{"an open invitation exists", admin, `{"SessionInput":{"email":"TAKEN@example.com"}}`, 409, nil},
		{"unknown member", admin, `{"SessionInput":{"phone":"+201234567890"}}`, 400, nil},
		{"unknown ApiKey", []string{"ApiKey", "nope", "Authorization", "Bearer admin-acme"}, referenceSessionInput, 401, nil},
		{"no bearer token", []string{"ApiKey", "key-acme"}, referenceSessionInput, 401, nil},
		{"not an admin", []string{"ApiKey", "key-acme", "Authorization", "Bearer viewer-acme"}, referenceSessionInput, 403, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := h.client(tc.hdr...).do("POST", "/api/IdentityUserSession/CreateInvitation", tc.body)
			require.Equal(t, tc.status, rep.status, "body: %s", rep.body)
			require.Equal(t, "application/json", rep.header.Get("Content-Type"))
			var out apiOutput
			rep.decode(t, &out)
			require.Nil(t, out.Data)
			require.NotNil(t, out.ErrorCode)
			require.Equal(t, tc.status, *out.ErrorCode)
			require.NotNil(t, out.ErrorMessage)
			require.NotEmpty(t, *out.ErrorMessage)
			var desc []problemField
			require.NoError(t, json.Unmarshal(out.ErrorDescriptions, &desc))
			got := problemDoc{Errors: desc}.at()
			slices.Sort(got)
			want := slices.Clone(tc.at)
			slices.Sort(want)
			require.Equal(t, want, got)
			for _, d := range desc {
				require.NotEmpty(t, d.Reason)
			}
		})
	}
}
