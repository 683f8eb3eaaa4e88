package invitehttp

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

func itoa(n int) string { return strconv.Itoa(n) }

// listParams are the query parameters of the list endpoints, each with
// what it sets.
var listParams = map[string]func(o *listQuery, v string) bool{
	"states": func(o *listQuery, v string) bool {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.States = append(o.States, invite.State(s))
			}
		}
		return true
	},
	"open":            boolParam(func(o *listQuery) *bool { return &o.Open }),
	"include_expired": boolParam(func(o *listQuery) *bool { return &o.IncludeExpired }),
	"descending":      boolParam(func(o *listQuery) *bool { return &o.Descending }),
	"total":           boolParam(func(o *listQuery) *bool { return &o.total }),
	"email":           textParam(func(o *listQuery) *string { return &o.Email }),
	"phone":           textParam(func(o *listQuery) *string { return &o.Phone }),
	"user_id":         textParam(func(o *listQuery) *string { return &o.UserID }),
	"inviter_id":      textParam(func(o *listQuery) *string { return &o.InviterID }),
	"client_id":       textParam(func(o *listQuery) *string { return &o.ClientID }),
	"template_key":    textParam(func(o *listQuery) *string { return &o.TemplateKey }),
	"role":            textParam(func(o *listQuery) *string { return &o.Role }),
	"group":           textParam(func(o *listQuery) *string { return &o.Group }),
	"search":          textParam(func(o *listQuery) *string { return &o.Search }),
	"resent":          optBoolParam(func(o *listQuery) **bool { return &o.Resent }),
	"cursor":          textParam(func(o *listQuery) *string { return &o.Cursor }),
	"created_from":    timeParam(func(o *listQuery) *time.Time { return &o.CreatedFrom }),
	"created_to":      timeParam(func(o *listQuery) *time.Time { return &o.CreatedTo }),
	"offset":          intParam(func(o *listQuery) *int { return &o.Offset }),
	"skip":            intParam(func(o *listQuery) *int { return &o.Offset }),
	"limit":           intParam(func(o *listQuery) *int { return &o.Limit }),
	"count":           intParam(func(o *listQuery) *int { return &o.Limit }),
}

// listQuery is a list request: the Manager's options and whether to count.
type listQuery struct {
	invite.ListOptions
	total bool
}

func boolParam(f func(*listQuery) *bool) func(*listQuery, string) bool {
	return func(o *listQuery, v string) bool {
		b, err := strconv.ParseBool(v)
		*f(o) = b
		return err == nil
	}
}

// optBoolParam sets a filter that is unset (nil) unless the query names it.
func optBoolParam(f func(*listQuery) **bool) func(*listQuery, string) bool {
	return func(o *listQuery, v string) bool {
		b, err := strconv.ParseBool(v)
		*f(o) = &b
		return err == nil
	}
}

func textParam(f func(*listQuery) *string) func(*listQuery, string) bool {
	return func(o *listQuery, v string) bool { *f(o) = v; return true }
}

func timeParam(f func(*listQuery) *time.Time) func(*listQuery, string) bool {
	return func(o *listQuery, v string) bool {
		t, err := time.Parse(time.RFC3339Nano, v)
		*f(o) = t
		return err == nil
	}
}

func intParam(f func(*listQuery) *int) func(*listQuery, string) bool {
	return func(o *listQuery, v string) bool {
		n, err := strconv.Atoi(v)
		*f(o) = n
		return err == nil && !strings.HasPrefix(v, "+")
	}
}

// paramReason says what form each parameter that failed to parse takes.
var paramReason = map[string]string{
	"open": "must be true or false", "include_expired": "must be true or false", "descending": "must be true or false",
	"total": "must be true or false", "resent": "must be true or false",
	"created_from": "must be an RFC 3339 time", "created_to": "must be an RFC 3339 time",
	"offset": "must be an integer", "skip": "must be an integer", "limit": "must be an integer", "count": "must be an integer",
}

// parseList reads the query of a list request. Every parameter is known
// and given once (states may repeat), skip and count are offset and limit
// under the names some clients page with; except holds the parameters the
// route sets itself.
func (h *handler) parseList(q url.Values, except ...string) (listQuery, *problem) {
	var o listQuery
	var bad []problemField
	for name, vals := range q {
		set, ok := listParams[name]
		switch {
		case !ok || slices.Contains(except, name):
			bad = append(bad, problemField{Parameter: name, Code: invite.CodeUnknown, Reason: "is not a parameter of this endpoint"})
			continue
		case len(vals) > 1 && name != "states":
			bad = append(bad, problemField{Parameter: name, Code: invite.CodeConflict, Reason: "is given more than once"})
			continue
		}
		for _, v := range vals {
			if !set(&o, v) {
				bad = append(bad, problemField{Parameter: name, Code: invite.CodeInvalidFormat, Reason: paramReason[name]})
			}
		}
	}
	for _, pair := range [][2]string{{"offset", "skip"}, {"limit", "count"}} {
		if q.Has(pair[0]) && q.Has(pair[1]) {
			bad = append(bad, problemField{Parameter: pair[1], Code: invite.CodeConflict, Reason: "is another name for " + pair[0] + ": send one of the two"})
		}
	}
	if len(bad) > 0 {
		p := h.newProblem(kindMalformed, "the query has parameters this endpoint does not take, or values it cannot read")
		p.Errors = bad
		return o, p
	}
	return o, nil
}

// inQuery places a list's field errors on its query parameters.
func inQuery(q url.Values) place {
	return func(field string) (string, bool) {
		switch field {
		case "TenantID":
			return "tenant", true
		case "Offset":
			if q.Has("skip") {
				return "skip", true
			}
		case "Limit":
			if q.Has("count") {
				return "count", true
			}
		}
		name, _, _ := strings.Cut(invite.FieldError{Field: field}.Path(), ".")
		return name, true
	}
}

// pageJSON is a page of a list, with the count of every match when the
// request asked for it (total=true).
type pageJSON struct {
	Invitations []*invite.Invitation `json:"invitations"`
	NextCursor  string               `json:"next_cursor,omitempty"`
	Total       *int                 `json:"total,omitempty"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionList)
	if !ok {
		return
	}
	h.serveList(w, r, tenant)
}

func (h *handler) listUser(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionListUser)
	if !ok {
		return
	}
	h.serveList(w, r, tenant, "user_id")
}

// serveList answers a list request; a user's list takes the user id from
// the path.
func (h *handler) serveList(w http.ResponseWriter, r *http.Request, tenant string, except ...string) {
	q := r.URL.Query()
	o, p := h.parseList(q, except...)
	if p != nil {
		h.writeProblem(w, r, p)
		return
	}
	ec := errorContext{place: inQuery(q)}
	if len(except) > 0 {
		o.UserID = r.PathValue("user")
		ec.place = func(field string) (string, bool) {
			if field == "UserID" {
				return "user", true
			}
			return inQuery(q)(field)
		}
	}
	page, err := h.m.List(r.Context(), tenant, o.ListOptions)
	if err != nil {
		h.writeError(w, r, err, ec)
		return
	}
	out := pageJSON{Invitations: page.Invitations, NextCursor: page.NextCursor}
	if out.Invitations == nil {
		out.Invitations = []*invite.Invitation{}
	}
	if o.total {
		n, err := h.m.Count(r.Context(), tenant, o.Filter)
		if err != nil {
			h.writeError(w, r, err, ec)
			return
		}
		out.Total = &n
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

// deadLetterJSON is the JSON form of a dead-lettered outbox entry. It
// holds no secret; LastError is the notifier's or event sink's last error,
// for the tenant's administrators.
type deadLetterJSON struct {
	ID           string            `json:"id"`
	Kind         invite.OutboxKind `json:"kind"`
	InvitationID string            `json:"invitation_id,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	DeadAt       time.Time         `json:"dead_at"`
	Attempts     int               `json:"attempts"`
	LastError    string            `json:"last_error,omitempty"`
	Resend       bool              `json:"resend,omitempty"`
	Event        *invite.Event     `json:"event,omitempty"`
}

func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionDeadLetters)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, bad := invite.DefaultPageSize, []problemField(nil)
	for name, vals := range q {
		switch {
		case name != "after" && name != "limit":
			bad = append(bad, problemField{Parameter: name, Code: invite.CodeUnknown, Reason: "is not a parameter of this endpoint"})
		case len(vals) > 1:
			bad = append(bad, problemField{Parameter: name, Code: invite.CodeConflict, Reason: "is given more than once"})
		case name == "limit":
			n, err := strconv.Atoi(vals[0])
			if err != nil {
				bad = append(bad, problemField{Parameter: name, Code: invite.CodeInvalidFormat, Reason: "must be an integer"})
			}
			limit = n
		}
	}
	if len(bad) > 0 {
		p := h.newProblem(kindMalformed, "the query has parameters this endpoint does not take, or values it cannot read")
		p.Errors = bad
		h.writeProblem(w, r, p)
		return
	}
	entries, err := h.m.DeadLetters(r.Context(), tenant, q.Get("after"), limit)
	if err != nil {
		h.writeError(w, r, err, errorContext{place: func(field string) (string, bool) {
			if field == "TenantID" {
				return "tenant", true
			}
			return strings.ToLower(field), true
		}})
		return
	}
	out := struct {
		DeadLetters []deadLetterJSON `json:"dead_letters"`
		NextAfter   string           `json:"next_after,omitempty"`
	}{DeadLetters: make([]deadLetterJSON, 0, len(entries))}
	for _, e := range entries {
		d := deadLetterJSON{ID: e.ID, Kind: e.Kind, InvitationID: e.InvitationID, CreatedAt: e.CreatedAt,
			DeadAt: e.DeadAt, Attempts: e.Attempts, LastError: e.LastError, Event: e.Event}
		if e.Message != nil {
			d.Resend = e.Message.Resend
		}
		out.DeadLetters = append(out.DeadLetters, d)
	}
	if len(entries) == limit {
		out.NextAfter = entries[len(entries)-1].ID
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

// redriveBody names the dead letters to queue again.
type redriveBody struct {
	Ids []string `json:"ids"`
}

func (h *handler) redrive(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.admit(w, r, ActionRedrive)
	if !ok {
		return
	}
	var body redriveBody
	if p := h.decode(w, r, &body, false); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	n, err := h.m.Redrive(r.Context(), tenant, body.Ids...)
	if err != nil {
		h.writeError(w, r, err, errorContext{place: func(field string) (string, bool) {
			if rest, ok := strings.CutPrefix(field, "IDs"); ok {
				return "Ids" + rest, false
			}
			return inBody(field)
		}})
		return
	}
	h.writeJSON(w, r, http.StatusOK, map[string]int{"redriven": n})
}
