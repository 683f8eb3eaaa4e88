package referencetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite/invitehttp"
)

// host is a test host application: the library's HTTP API (invitehttp)
// mounted at /api/invite/ as a host mounts it, and the routes of one
// reference API, whose glue calls the library's API in-process.
type host struct {
	t   *testing.T
	api http.Handler
	mux *http.ServeMux
	srv *httptest.Server
}

// newHost serves cfg's API on loopback. Authorize and Subject default to
// adminAuthorize and sessionSubject.
func newHost(t *testing.T, cfg invitehttp.Config) *host {
	t.Helper()
	if cfg.Authorize == nil {
		cfg.Authorize = adminAuthorize
	}
	if cfg.Subject == nil {
		cfg.Subject = sessionSubject
	}
	api, err := invitehttp.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/api/invite/", http.StripPrefix("/api/invite", api))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &host{t: t, api: api, mux: mux, srv: srv}
}

// handle adds a route of the reference API.
func (h *host) handle(pattern string, fn http.HandlerFunc) { h.mux.HandleFunc(pattern, fn) }

// adminAuthorize is the hosts' Authorize: "Bearer admin-T" may do every
// admin action in tenant T, "Bearer viewer-T" may only read it, and the
// invitee's actions are open (the token is the capability).
func adminAuthorize(r *http.Request, tenant string, a invitehttp.Action) error {
	if a.Public() {
		return nil
	}
	who, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || who == "":
		return invitehttp.ErrUnauthenticated
	case who == "admin-"+tenant:
		return nil
	case who == "viewer-"+tenant && (a == invitehttp.ActionGet || a == invitehttp.ActionList || a == invitehttp.ActionListUser):
		return nil
	}
	return invitehttp.ErrForbidden
}

type subjectKey struct{}

// withSubject marks ctx as the session of s: the glue of a registration
// signs the user it has just created in before it accepts.
func withSubject(ctx context.Context, s invitehttp.Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// sessionSubject is the hosts' Subject: the user the glue signed in, or
// the test's stand-in for a session cookie (X-User, X-User-Email).
func sessionSubject(r *http.Request) (invitehttp.Subject, error) {
	if s, ok := r.Context().Value(subjectKey{}).(invitehttp.Subject); ok {
		return s, nil
	}
	if id := r.Header.Get("X-User"); id != "" {
		return invitehttp.Subject{ID: id, Email: r.Header.Get("X-User-Email")}, nil
	}
	return invitehttp.Subject{}, invitehttp.ErrUnauthenticated
}

// reply is an HTTP response, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// isProblem reports whether the reply is a problem details document.
func (r *reply) isProblem() bool {
	return r.header.Get("Content-Type") == "application/problem+json"
}

// call sends a request to the library's API in-process for the glue's
// request r: with r's context and Authorization. body is nil or a value
// sent as JSON; hdr are more headers, name and value in pairs.
func (h *host) call(r *http.Request, method, path string, body any, hdr ...string) (*reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(r.Context(), method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	return &reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, nil
}

// fail answers a request the glue could not complete (a bug of the test
// host): 500, and the test fails.
func (h *host) fail(w http.ResponseWriter, err error) {
	h.t.Errorf("glue: %v", err)
	http.Error(w, "glue failed", http.StatusInternalServerError)
}

// writeJSON answers v as JSON with status; contentType "" is
// application/json.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeStrict reads a reference request's JSON body into v, refusing
// members v does not have.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// problemDoc is a problem details document as the glue and the tests read
// it: its standard members and those of invitehttp's it uses.
type problemDoc struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Status     int            `json:"status"`
	Detail     string         `json:"detail"`
	Errors     []problemField `json:"errors,omitempty"`
	ExistingID string         `json:"existing_id,omitempty"`
	State      string         `json:"state,omitempty"`
}

// problemField is one entry of a problem's errors.
type problemField struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
}

// kind is the problem's type after invitehttp's base ("validation").
func (p problemDoc) kind() string {
	return strings.TrimPrefix(p.Type, invitehttp.DefaultProblemTypeBase)
}

// at lists the problem's errors as "pointer=code" (or "parameter=code").
func (p problemDoc) at() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Pointer+e.Parameter+"="+e.Code)
	}
	return out
}

// relayProblem answers a problem of the library's API as a reference
// API's own problem details: the same document and status, every member
// kept, with the pointers of its errors renamed by names (the inverse of
// the glue's field mapping; a pointer not there is kept). edit, when not
// nil, adds members of the reference's own. (The hosts that document 400
// for invalid input set invitehttp.Config.InvalidStatus.)
func relayProblem(w http.ResponseWriter, rep *reply, names map[string]string, edit func(doc map[string]any, p problemDoc)) error {
	var doc map[string]any
	var p problemDoc
	if err := errors.Join(json.Unmarshal(rep.body, &doc), json.Unmarshal(rep.body, &p)); err != nil {
		return err
	}
	if edit != nil {
		edit(doc, p)
	}
	for i, e := range p.Errors {
		if name, ok := names[e.Pointer]; ok && e.Pointer != "" {
			p.Errors[i].Pointer = name
		}
	}
	if p.Errors != nil {
		doc["errors"] = p.Errors
	}
	writeJSON(w, rep.status, "application/problem+json", doc)
	return nil
}

// client is the reference API's client: it sends requests to the host
// with its own headers.
type client struct {
	t   *testing.T
	h   *host
	hdr []string
}

// client returns a client that sends hdr (name and value in pairs) with
// every request.
func (h *host) client(hdr ...string) *client { return &client{t: h.t, h: h, hdr: hdr} }

// do sends a request: body is nil (none), a string (sent as it is) or a
// value (sent as JSON); hdr are more headers. A request with a body is
// application/json.
func (c *client) do(method, path string, body any, hdr ...string) *reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.h.srv.URL+path, rd)
	require.NoError(c.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	all := append(append([]string(nil), c.hdr...), hdr...)
	for i := 0; i+1 < len(all); i += 2 {
		req.Header.Set(all[i], all[i+1])
	}
	res, err := c.h.srv.Client().Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return &reply{status: res.StatusCode, header: res.Header, body: b}
}

// decode decodes the reply's JSON into v.
func (r *reply) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// expect checks the reply's status and decodes its JSON into v (when not
// nil).
func (r *reply) expect(t *testing.T, status int, v any) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	if v != nil {
		r.decode(t, v)
	}
}
