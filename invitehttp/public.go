package invitehttp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/invitekit/invite"
)

// admitPublic prepares an invitee's request: the headers of every public
// response, the tenant (pinning a token when not ""), and the host's
// authorization.
func (h *handler) admitPublic(w http.ResponseWriter, r *http.Request, a Action) (string, bool) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	tenant, p := h.tenant(r)
	if p == nil {
		p = h.authorize(r, tenant, a)
	}
	if p != nil {
		h.writeProblem(w, r, p)
		return "", false
	}
	return tenant, true
}

// limit asks Config.RateLimit, and answers 429 when it refuses.
func (h *handler) limit(w http.ResponseWriter, r *http.Request, a Action, ref string) bool {
	if h.cfg.RateLimit == nil {
		return true
	}
	wait, ok := h.cfg.RateLimit(r, a, ref)
	if ok {
		return true
	}
	p := h.newProblem(kindRateLimited, "too many attempts; wait before trying again")
	p.retryAfter = max(wait, 1)
	h.writeProblem(w, r, p)
	return false
}

// tokenRef is the RateLimit reference of a token: a digest under a key of
// this handler's, so that neither the token nor the hash a store keeps of
// it reaches the hook.
func (h *handler) tokenRef(token string) string {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(token))
	return "token:" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// subject resolves the signed-in user, or the 401 (403) refusing the
// request.
func (h *handler) subject(r *http.Request) (Subject, *problem) {
	s, err := h.cfg.Subject(r)
	switch {
	case errors.Is(err, ErrForbidden):
		return s, h.newProblem(kindForbidden, "you may not accept this invitation")
	case err != nil || s.ID == "":
		return s, h.classify(ErrUnauthenticated, errorContext{})
	}
	return s, nil
}

// inSubject places the errors of an acceptance's input, which comes from
// the session, not the body.
func inSubject(field string) (string, bool) {
	switch field {
	case "Subject":
		return "subject", true
	case "Email":
		return "subject.email", true
	case "TenantID":
		return "tenant", true
	}
	return field, false
}

// publicAcceptance is the invitee's view of an acceptance.
type publicAcceptance struct {
	Invitation *invite.PublicInvitation `json:"invitation"`
	Replayed   bool                     `json:"replayed"`
}

// acceptAndGrant runs accept and then Config.Accepted, both inside
// Config.Transact when it is set.
func (h *handler) acceptAndGrant(r *http.Request, accept func(ctx context.Context, m *invite.Manager) (*invite.Acceptance, error)) (*invite.Acceptance, error) {
	var acc *invite.Acceptance
	run := func(ctx context.Context, m *invite.Manager) error {
		var err error
		if acc, err = accept(ctx, m); err != nil {
			return err
		}
		if h.cfg.Accepted != nil {
			return h.cfg.Accepted(r.WithContext(ctx), acc)
		}
		return nil
	}
	if h.cfg.Transact == nil {
		return acc, run(r.Context(), h.m)
	}
	if err := h.cfg.Transact(r.Context(), run); err != nil {
		return nil, err
	}
	return acc, nil
}

// accepted answers the invitee's acceptance.
func (h *handler) accepted(w http.ResponseWriter, r *http.Request, acc *invite.Acceptance) {
	h.writeJSON(w, r, http.StatusOK, publicAcceptance{Invitation: acc.Invitation.Public(), Replayed: acc.Replayed})
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admitPublic(w, r, ActionLookup)
	if !ok {
		return
	}
	token := r.PathValue("token")
	if !h.limit(w, r, ActionLookup, h.tokenRef(token)) {
		return
	}
	inv, err := h.m.LookupIn(r.Context(), tenant, token)
	if err != nil {
		h.writeError(w, r, err, errorContext{public: true, place: inSubject})
		return
	}
	h.writeJSON(w, r, http.StatusOK, inv.Public())
}

func (h *handler) accept(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admitPublic(w, r, ActionAccept)
	if !ok {
		return
	}
	var body struct{}
	if p := h.decode(w, r, &body, true); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	s, p := h.subject(r)
	if p != nil {
		h.writeProblem(w, r, p)
		return
	}
	token := r.PathValue("token")
	if !h.limit(w, r, ActionAccept, h.tokenRef(token)) {
		return
	}
	acc, err := h.acceptAndGrant(r, func(ctx context.Context, m *invite.Manager) (*invite.Acceptance, error) {
		return m.Accept(ctx, token, invite.AcceptInput{Subject: s.ID, Email: s.Email, TenantID: tenant})
	})
	if err != nil {
		h.writeError(w, r, err, errorContext{public: true, place: inSubject})
		return
	}
	h.accepted(w, r, acc)
}

// rejectBody is the optional body of a decline.
type rejectBody struct {
	Reason string `json:"reason,omitempty"`
}

func (h *handler) reject(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admitPublic(w, r, ActionReject)
	if !ok {
		return
	}
	var body rejectBody
	if p := h.decode(w, r, &body, true); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	token := r.PathValue("token")
	if !h.limit(w, r, ActionReject, h.tokenRef(token)) {
		return
	}
	inv, err := h.m.RejectIn(r.Context(), tenant, token, body.Reason)
	if err != nil {
		h.writeError(w, r, err, errorContext{public: true})
		return
	}
	h.writeJSON(w, r, http.StatusOK, inv.Public())
}

// codeBody names the invitation a short code is for (its id, or the
// invitee's email or phone) and the code.
type codeBody struct {
	InvitationID string `json:"invitation_id,omitempty"`
	Email        string `json:"email,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Code         string `json:"code"`
}

// ref is the CodeRef of the body in tenant, and its RateLimit reference
// (normalised, so that "Ada@Example.com" meets the limit of
// "ada@example.com").
func (b *codeBody) ref(tenant string) (invite.CodeRef, string) {
	ref := invite.CodeRef{TenantID: tenant, InvitationID: b.InvitationID, Email: b.Email, Phone: b.Phone}
	email, ok := invite.NormalizeEmail(b.Email)
	if !ok {
		email = strings.ToLower(strings.TrimSpace(b.Email))
	}
	phone, ok := invite.NormalizePhone(b.Phone)
	if !ok {
		phone = strings.TrimSpace(b.Phone)
	}
	return ref, "code:" + tenant + "|" + b.InvitationID + "|" + email + "|" + phone
}

// inCode places the errors of a code request: the reference's email and
// phone are at the top of the body.
func inCode(field string) (string, bool) {
	if rest, ok := strings.CutPrefix(field, "Invitee."); ok {
		return rest, false
	}
	return inSubject(field)
}

// readCode runs the common start of the code endpoints.
func (h *handler) readCode(w http.ResponseWriter, r *http.Request, a Action) (string, *codeBody, bool) {
	tenant, ok := h.admitPublic(w, r, a)
	if !ok {
		return "", nil, false
	}
	if tenant == "" {
		h.writeProblem(w, r, h.newProblem(kindNotFound, "no such tenant"))
		return "", nil, false
	}
	var body codeBody
	if p := h.decode(w, r, &body, false); p != nil {
		h.writeProblem(w, r, p)
		return "", nil, false
	}
	return tenant, &body, true
}

func (h *handler) verifyCode(w http.ResponseWriter, r *http.Request) {
	tenant, body, ok := h.readCode(w, r, ActionVerifyCode)
	if !ok {
		return
	}
	ref, key := body.ref(tenant)
	if !h.limit(w, r, ActionVerifyCode, key) {
		return
	}
	inv, err := h.m.VerifyCode(r.Context(), ref, body.Code)
	if err != nil {
		h.writeError(w, r, err, errorContext{public: true, place: inCode})
		return
	}
	h.writeJSON(w, r, http.StatusOK, inv.Public())
}

func (h *handler) acceptCode(w http.ResponseWriter, r *http.Request) {
	tenant, body, ok := h.readCode(w, r, ActionAcceptCode)
	if !ok {
		return
	}
	s, p := h.subject(r)
	if p != nil {
		h.writeProblem(w, r, p)
		return
	}
	ref, key := body.ref(tenant)
	if !h.limit(w, r, ActionAcceptCode, key) {
		return
	}
	acc, err := h.acceptAndGrant(r, func(ctx context.Context, m *invite.Manager) (*invite.Acceptance, error) {
		return m.AcceptCode(ctx, ref, body.Code, invite.AcceptInput{Subject: s.ID, Email: s.Email, TenantID: tenant})
	})
	if err != nil {
		h.writeError(w, r, err, errorContext{public: true, place: inCode})
		return
	}
	h.accepted(w, r, acc)
}
