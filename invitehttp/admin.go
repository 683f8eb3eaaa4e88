package invitehttp

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/invitekit/invite"
)

// resultJSON is the response of a call that may mint a secret (create,
// upsert, a resend): the invitation, and the secret only when the caller
// asked for it with "delivery": "return".
type resultJSON struct {
	Invitation    *invite.Invitation `json:"invitation"`
	Replayed      bool               `json:"replayed"`
	Created       *bool              `json:"created,omitempty"`
	DeliveryError string             `json:"delivery_error,omitempty"`
	// Token, Code and Link are revealed deliberately, for DeliveryReturn
	// only: the caller delivers them itself.
	Token string `json:"token,omitempty"`
	Code  string `json:"code,omitempty"`
	Link  string `json:"link,omitempty"`
}

// resultOf is res's response; reveal hands its secrets out.
func resultOf(res *invite.Result, reveal bool) resultJSON {
	out := resultJSON{Invitation: res.Invitation, Replayed: res.Replayed}
	if res.DeliveryErr != nil {
		out.DeliveryError = "delivery failed"
	}
	if reveal {
		out.Token, out.Code, out.Link = res.Token.Reveal(), res.Code.Reveal(), res.Link.Reveal()
	}
	return out
}

// location is the Location of a new invitation: relative to the request's
// own URL (".../tenants/{tenant}/invitations"), so that it is right under
// any prefix.
func location(id string) string { return "invitations/" + url.PathEscape(id) }

// prepare binds a decoded create input to the tenant of the path and runs
// Config.BeforeCreate.
func (h *handler) prepare(r *http.Request, in *invite.CreateInput, tenant string) error {
	if in.TenantID != "" && in.TenantID != tenant {
		return &invite.ValidationError{Fields: []invite.FieldError{{Field: "BodyTenantID",
			Reason: "must be left out, or be the tenant of the path", Code: invite.CodeConflict}}}
	}
	in.TenantID = tenant
	if h.cfg.BeforeCreate != nil {
		return h.cfg.BeforeCreate(r, in)
	}
	return nil
}

// inCreate places the fields of a create's errors: BodyTenantID is the
// body's tenant_id, IdempotencyKey the header when it came from there.
func inCreate(fromHeader bool) place {
	return func(field string) (string, bool) {
		switch {
		case field == "BodyTenantID":
			return "TenantID", false
		case field == "IdempotencyKey" && fromHeader:
			return "Idempotency-Key", true
		}
		return inBody(field)
	}
}

// idempotencyKey moves the Idempotency-Key header into in.
func idempotencyKey(r *http.Request, in *invite.CreateInput) (fromHeader bool, err error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return false, nil
	}
	if in.IdempotencyKey != "" && in.IdempotencyKey != key {
		return true, &invite.ValidationError{Fields: []invite.FieldError{{Field: "IdempotencyKey",
			Reason: "differs from the Idempotency-Key header: send one or the other", Code: invite.CodeConflict}}}
	}
	in.IdempotencyKey = key
	return true, nil
}

// readCreate admits a create or an upsert (action a), decodes its
// CreateInput and completes it with the Idempotency-Key header and
// Config.BeforeCreate. It returns the error context of the call, and ok
// false when it has answered the request itself.
func (h *handler) readCreate(w http.ResponseWriter, r *http.Request, a Action) (in invite.CreateInput, ec errorContext, ok bool) {
	tenant, ok := h.admit(w, r, a)
	if !ok {
		return in, ec, false
	}
	if p := h.decode(w, r, &in, false); p != nil {
		h.writeProblem(w, r, p)
		return in, ec, false
	}
	fromHeader, err := idempotencyKey(r, &in)
	if err == nil {
		err = h.prepare(r, &in, tenant)
	}
	ec = errorContext{place: inCreate(fromHeader)}
	if err != nil {
		h.writeError(w, r, err, ec)
		return in, ec, false
	}
	return in, ec, true
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	in, ec, ok := h.readCreate(w, r, ActionCreate)
	if !ok {
		return
	}
	res, err := h.m.Create(r.Context(), in)
	if err != nil {
		h.writeError(w, r, err, ec)
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	w.Header().Set("Location", location(res.Invitation.ID))
	w.Header().Set("ETag", etag(res.Invitation.Version))
	h.writeJSON(w, r, status, resultOf(res, in.Delivery == invite.DeliveryReturn))
}

func (h *handler) upsert(w http.ResponseWriter, r *http.Request) {
	in, ec, ok := h.readCreate(w, r, ActionUpsert)
	if !ok {
		return
	}
	res, err := h.m.Upsert(r.Context(), in)
	if err != nil {
		h.writeError(w, r, err, ec)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		w.Header().Set("Location", location(res.Invitation.ID))
	}
	out := resultOf(&res.Result, in.Delivery == invite.DeliveryReturn)
	out.Created = &res.Created
	w.Header().Set("ETag", etag(res.Invitation.Version))
	h.writeJSON(w, r, status, out)
}

// batchBody is the body of a batch create.
type batchBody struct {
	Invitations []invite.CreateInput `json:"invitations"`
}

// batchItem is one outcome of a batch: the status and result a create of
// that item alone would have had, or its problem.
type batchItem struct {
	Status  int         `json:"status"`
	Result  *resultJSON `json:"result,omitempty"`
	Problem *problem    `json:"problem,omitempty"`
}

func (h *handler) createBatch(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionCreateBatch)
	if !ok {
		return
	}
	if r.Header.Get("Idempotency-Key") != "" {
		p := h.newProblem(kindMalformed, "a batch takes an idempotency_key per invitation, not the Idempotency-Key header")
		p.Errors = []problemField{{Parameter: "Idempotency-Key", Code: invite.CodeNotAllowed, Reason: "is not taken by this endpoint"}}
		h.writeProblem(w, r, p)
		return
	}
	var body batchBody
	if p := h.decode(w, r, &body, false); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	items := make([]batchItem, len(body.Invitations))
	var ins []invite.CreateInput
	var at []int // the index in body of each of ins
	if len(body.Invitations) > invite.MaxBatchSize {
		ins = body.Invitations // CreateBatch refuses it, naming the limit
	} else {
		for i := range body.Invitations {
			if err := h.prepare(r, &body.Invitations[i], tenant); err != nil {
				items[i] = h.batchProblem(err, i)
				continue
			}
			ins, at = append(ins, body.Invitations[i]), append(at, i)
		}
	}
	out, err := h.m.CreateBatch(r.Context(), ins)
	if err != nil {
		h.writeError(w, r, err, errorContext{place: func(field string) (string, bool) {
			if field == "Batch" {
				return "Invitations", false
			}
			return inBody(field)
		}})
		return
	}
	for j, it := range out {
		i := at[j]
		if it.Err != nil {
			items[i] = h.batchProblem(it.Err, i)
			continue
		}
		res := resultOf(it.Result, body.Invitations[i].Delivery == invite.DeliveryReturn)
		status := http.StatusCreated
		if it.Result.Replayed {
			status = http.StatusOK
		}
		items[i] = batchItem{Status: status, Result: &res}
	}
	h.writeJSON(w, r, http.StatusOK, map[string]any{"items": items})
}

// batchProblem is the outcome of item i refused with err; its pointers
// lead into the batch's body.
func (h *handler) batchProblem(err error, i int) batchItem {
	prefix := "Invitations[" + itoa(i) + "]."
	p := h.classify(err, errorContext{place: func(field string) (string, bool) {
		if field == "BodyTenantID" {
			return prefix + "TenantID", false
		}
		if name, isParam := inBody(field); isParam {
			return name, true
		}
		return prefix + field, false
	}})
	if p.Status >= 500 {
		p.err = nil // logged with the response, if at all
	}
	return batchItem{Status: p.Status, Problem: p}
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionGet)
	if !ok {
		return
	}
	inv, err := h.m.Get(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err, errorContext{})
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == "*" || strings.Contains(inm, etag(inv.Version))) {
		w.Header().Set("ETag", etag(inv.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.writeInvitation(w, r, http.StatusOK, inv)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionDelete)
	if !ok {
		return
	}
	version, hasIfMatch, p := h.ifMatch(r)
	if p != nil {
		h.writeProblem(w, r, p)
		return
	}
	if err := h.m.Delete(r.Context(), tenant, r.PathValue("id"), version); err != nil {
		h.writeError(w, r, err, errorContext{ifMatch: hasIfMatch})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// patchBody is the body of PATCH: edits (any UpdateInput field; a member
// left out or null keeps the value), a resend, or one state change. The
// tenant, the id and the version come from the path and If-Match: the
// body may not name them.
type patchBody struct {
	invite.UpdateInput

	// Resend mints a new secret and delivers it, after the edits.
	Resend *invite.ResendOptions `json:"resend,omitempty"`
	// State is a state change: "accepted" (for Subject, with Email),
	// "rejected" or "revoked" (with an optional Reason), or "sent" (the
	// host delivered the invitation itself: Manager.MarkSent).
	State   invite.State `json:"state,omitempty"`
	Subject string       `json:"subject,omitempty"`
	Email   string       `json:"email,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

// edits is the body's UpdateInput for the invitation id at version.
func (b *patchBody) edits(tenant, id string, version int64) invite.UpdateInput {
	in := b.UpdateInput
	in.TenantID, in.ID, in.Version = tenant, id, version
	return in
}

// action is what the body asks for, or the field errors of a body that
// mixes what cannot be mixed.
func (b *patchBody) action() (Action, error) {
	var bad []invite.FieldError
	add := func(field, code, reason string) {
		bad = append(bad, invite.FieldError{Field: field, Code: code, Reason: reason})
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"TenantID", b.TenantID != ""}, {"ID", b.ID != ""}, {"Version", b.Version != 0}} {
		if f.set {
			add(f.field, invite.CodeNotAllowed, "is not taken in the body: the path names the invitation, If-Match its version")
		}
	}
	hasEdits := b.edits("", "", 0) != invite.UpdateInput{}
	a := ActionUpdate
	switch b.State {
	case "":
		if b.Resend != nil {
			a = ActionResend
		}
	case invite.StateAccepted:
		a = ActionAdminAccept
	case invite.StateRejected:
		a = ActionAdminReject
	case invite.StateRevoked:
		a = ActionRevoke
	case invite.StateSent:
		a = ActionMarkSent
	default:
		add("State", invite.CodeUnknown, "is not one of accepted, rejected, revoked, sent (resend with \"resend\")")
	}
	if b.State != "" && (hasEdits || b.Resend != nil) {
		add("State", invite.CodeConflict, "cannot be combined with edits or a resend: send them in separate requests")
	}
	if a != ActionAdminAccept {
		if b.Subject != "" {
			add("Subject", invite.CodeNotAllowed, "is only taken with \"state\": \"accepted\"")
		}
		if b.Email != "" {
			add("Email", invite.CodeNotAllowed, "is only taken with \"state\": \"accepted\"")
		}
	}
	if b.Reason != "" && a != ActionAdminReject && a != ActionRevoke {
		add("Reason", invite.CodeNotAllowed, "is only taken with \"state\": \"rejected\" or \"revoked\"")
	}
	if len(bad) > 0 {
		return "", &invite.ValidationError{Fields: bad}
	}
	return a, nil
}

// inPatch places a PATCH's field errors: those of the resend options are
// inside "resend".
func inPatch(field string) (string, bool) {
	switch field {
	case "Delivery", "ExpiresIn", "ExpiresInSeconds", "ExpiresInDays":
		return "Resend." + field, false
	case "Actor.Kind", "Actor.ID":
		return "actor", true
	}
	return inBody(field)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenant, p := h.tenant(r)
	if p == nil && tenant == "" {
		p = h.newProblem(kindNotFound, "no such tenant")
	}
	var version int64
	var hasIfMatch bool
	if p == nil {
		version, hasIfMatch, p = h.ifMatch(r)
	}
	var body patchBody
	if p == nil {
		p = h.decode(w, r, &body, false)
	}
	if p != nil {
		h.writeProblem(w, r, p)
		return
	}
	ec := errorContext{ifMatch: hasIfMatch, place: inPatch}
	a, err := body.action()
	if err != nil {
		if p := h.authorize(r, tenant, ActionUpdate); p != nil {
			h.writeProblem(w, r, p)
			return
		}
		// Every field action names is a member of the body.
		h.writeError(w, r, err, errorContext{place: func(field string) (string, bool) { return field, false }})
		return
	}
	if p := h.authorize(r, tenant, a); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	ctx, id := r.Context(), r.PathValue("id")
	if version != 0 && a != ActionUpdate && a != ActionResend {
		// The state changes take no version: check it first. (The
		// change itself is still checked against the transition table,
		// under the store's compare-and-swap.)
		cur, err := h.m.Get(ctx, tenant, id)
		if err == nil && cur.Version != version {
			err = invite.ErrConflict
		}
		if err != nil {
			h.writeError(w, r, err, ec)
			return
		}
	}
	var inv *invite.Invitation
	switch a {
	case ActionUpdate:
		inv, err = h.m.Update(ctx, body.edits(tenant, id, version))
	case ActionResend:
		var res *invite.Result
		if res, err = h.m.UpdateAndResend(ctx, body.edits(tenant, id, version), *body.Resend); err == nil {
			w.Header().Set("ETag", etag(res.Invitation.Version))
			h.writeJSON(w, r, http.StatusOK, resultOf(res, body.Resend.Delivery == invite.DeliveryReturn))
			return
		}
	case ActionRevoke:
		inv, err = h.m.Revoke(ctx, tenant, id, body.Reason)
	case ActionMarkSent:
		inv, err = h.m.MarkSent(ctx, tenant, id)
	case ActionAdminReject:
		inv, err = h.m.RejectByID(ctx, tenant, id, invite.AdminRejectInput{Reason: body.Reason})
	case ActionAdminAccept:
		var acc *invite.Acceptance
		acc, err = h.acceptAndGrant(r, func(ctx context.Context, m *invite.Manager) (*invite.Acceptance, error) {
			return m.AcceptByID(ctx, tenant, id, invite.AdminAcceptInput{Subject: body.Subject, Email: body.Email})
		})
		if err == nil {
			w.Header().Set("ETag", etag(acc.Invitation.Version))
			h.writeJSON(w, r, http.StatusOK, acc)
			return
		}
	}
	if err != nil {
		h.writeError(w, r, err, ec)
		return
	}
	h.writeInvitation(w, r, http.StatusOK, inv)
}
