package invitehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/invitekit/invite"
)

// handler serves the API.
type handler struct {
	cfg Config
	m   *invite.Manager
	mux *http.ServeMux
	key []byte // for the digests of tokens handed to RateLimit
}

// New returns the HTTP handler of the invitation API (see the package
// documentation for its routes), or an error naming every field of cfg
// that is missing or wrong.
func New(cfg Config) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, m: cfg.Manager, mux: http.NewServeMux(), key: refKey()}
	routes := []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"POST /tenants/{tenant}/invitations", h.create},
		{"POST /tenants/{tenant}/invitations/batch", h.createBatch},
		{"PUT /tenants/{tenant}/invitations", h.upsert},
		{"GET /tenants/{tenant}/invitations", h.list},
		{"GET /tenants/{tenant}/users/{user}/invitations", h.listUser},
		{"GET /tenants/{tenant}/invitations/{id}", h.get},
		{"PATCH /tenants/{tenant}/invitations/{id}", h.patch},
		{"DELETE /tenants/{tenant}/invitations/{id}", h.delete},
		{"GET /tenants/{tenant}/dead-letters", h.deadLetters},
		{"POST /tenants/{tenant}/dead-letters/redrive", h.redrive},
		{"GET /public/invitations/{token}", h.lookup},
		{"POST /public/invitations/{token}/reject", h.reject},
		{"POST /public/tenants/{tenant}/codes/verify", h.verifyCode},
		{"GET " + openAPIPath, h.openAPI},
	}
	if cfg.Subject != nil {
		routes = append(routes,
			struct {
				pattern string
				fn      http.HandlerFunc
			}{"POST /public/invitations/{token}/accept", h.accept},
			struct {
				pattern string
				fn      http.HandlerFunc
			}{"POST /public/tenants/{tenant}/codes/accept", h.acceptCode})
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if err := register(h.mux, method+" "+cfg.Prefix+path, rt.fn); err != nil {
			return nil, err
		}
	}
	h.mux.HandleFunc(noRoute, h.noRoute)
	return h, nil
}

// noRoute is the pattern of every request no route of the API matches.
const noRoute = "/"

// routeMethods are the methods the routes take, in the order of an Allow
// header.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// register adds a route, turning ServeMux's panic on a bad pattern (a
// Prefix that does not parse) into an error.
func register(mux *http.ServeMux, pattern string, fn http.HandlerFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("invitehttp: Prefix makes the route %q invalid: %v", pattern, v)
		}
	}()
	mux.HandleFunc(pattern, fn)
	return nil
}

// ServeHTTP routes the request. Every response is private and not to be
// stored (it may hold an invitation's personal data, or a secret), but the
// OpenAPI document's; a path the API does not have is a 404 problem, a
// method it does not take a 405 (ServeMux's redirect of an unclean path
// to the clean one stays).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == "" {
		// No path at all (a CONNECT in authority form), which not even
		// the catch-all route matches.
		h.writeProblem(w, r, h.newProblem(kindNotFound, "the API has no such path"))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// noRoute answers a request no route matches: 405 with Allow when the path
// has routes for other methods, 404 otherwise.
func (h *handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range routeMethods {
		probe := *r // a shallow copy: only its method differs
		probe.Method = m
		if _, pattern := h.mux.Handler(&probe); pattern != noRoute {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		h.writeProblem(w, r, h.newProblem(kindNotFound, "the API has no such path"))
		return
	}
	p := h.newProblem(kindMethod, "this path does not take "+r.Method)
	p.allow = strings.Join(allow, ", ")
	h.writeProblem(w, r, p)
}

// tenant resolves the request's tenant with Config.Tenant.
func (h *handler) tenant(r *http.Request) (string, *problem) {
	t, err := h.cfg.Tenant(r)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return "", h.classify(err, errorContext{})
	case errors.Is(err, ErrForbidden):
		return "", h.newProblem(kindForbidden, "you may not act in this tenant")
	case err != nil:
		return "", h.newProblem(kindNotFound, "no such tenant")
	}
	return t, nil
}

// authorize asks Config.Authorize.
func (h *handler) authorize(r *http.Request, tenant string, a Action) *problem {
	err := h.cfg.Authorize(r, tenant, a)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnauthenticated):
		return h.classify(err, errorContext{})
	}
	return h.newProblem(kindForbidden, "you may not do this here")
}

// admit resolves the tenant of an admin request and authorizes action:
// the tenant, or false after answering the refusal.
func (h *handler) admit(w http.ResponseWriter, r *http.Request, a Action) (string, bool) {
	tenant, p := h.tenant(r)
	if p == nil && tenant == "" {
		p = h.newProblem(kindNotFound, "no such tenant")
	}
	if p == nil {
		p = h.authorize(r, tenant, a)
	}
	if p != nil {
		h.writeProblem(w, r, p)
		return "", false
	}
	return tenant, true
}

// writeJSON sends v as JSON with status.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("invitehttp: encoding the response: %w", err), errorContext{})
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// etag is the entity tag of an invitation at version v: "v".
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// writeInvitation sends one invitation with its ETag.
func (h *handler) writeInvitation(w http.ResponseWriter, r *http.Request, status int, inv *invite.Invitation) {
	w.Header().Set("ETag", etag(inv.Version))
	h.writeJSON(w, r, status, inv)
}

// ifMatch reads If-Match: the version it names (0 when absent or "*",
// which any existing invitation matches), whether it was sent, or a 400
// for a value that is not one quoted version.
func (h *handler) ifMatch(r *http.Request) (int64, bool, *problem) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return 0, false, nil
	}
	v := strings.TrimSpace(strings.Join(vals, ","))
	if v == "*" {
		return 0, true, nil
	}
	if s, ok := strings.CutPrefix(v, `"`); ok {
		if s, ok = strings.CutSuffix(s, `"`); ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && !strings.HasPrefix(s, "+") {
				return n, true, nil
			}
		}
	}
	p := h.newProblem(kindMalformed, `If-Match must be one entity tag of this API, the invitation's version in quotes ("3"), or *`)
	p.Errors = []problemField{{Parameter: "If-Match", Code: invite.CodeInvalidFormat, Reason: "is not a quoted version"}}
	return 0, true, p
}
