package invitehttp

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// openAPIDoc is the OpenAPI 3.1 document of the API: every route, its
// parameters, bodies, responses and their headers. The test of the
// package validates real requests and responses of the handler against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIPath is the route of the OpenAPI document (after Config.Prefix).
const openAPIPath = "/openapi.json"

// openAPIContentType is the media type the document is served as (IANA's
// for OpenAPI documents in JSON).
const openAPIContentType = "application/vnd.oai.openapi+json;version=3.1"

// OpenAPI returns the OpenAPI 3.1 document of the API, in JSON: what GET
// /openapi.json serves, without its "servers" entry (its paths are relative
// to where the handler is mounted). A host that publishes the document
// elsewhere (a developer portal, a client generator) takes it from here.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// openAPI serves the document. It is public (not put to Authorize: it
// describes the API, not anyone's data), cacheable with revalidation, and
// its "servers" entry is the path the request came in by, less the route:
// where the host mounted the handler, whatever stripped the prefix on the
// way.
func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) {
	doc := withServer(openAPIDoc, mountPath(r))
	sum := sha256.Sum256(doc)
	tag := `"` + hex.EncodeToString(sum[:16]) + `"`
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", tag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || strings.Contains(inm, tag)) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", openAPIContentType)
	hd.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

// mountPath is the path the handler is mounted at, as the client sees it:
// the request's path (as sent, before http.StripPrefix or a router took
// its prefix off) without the route; "/" at the root.
func mountPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && strings.HasSuffix(u.EscapedPath(), openAPIPath) {
		p = u.EscapedPath()
	}
	if p = strings.TrimSuffix(p, openAPIPath); p == "" {
		p = "/"
	}
	return p
}

// withServer is doc with a "servers" entry of one server at url, after
// the "openapi" member.
func withServer(doc []byte, url string) []byte {
	u, _ := json.Marshal(url) // a string always encodes
	entry := []byte("\n  \"servers\": [{\"url\": " + string(u) + "}],")
	at := bytes.Index(doc, []byte("\n  \"info\": "))
	if at < 0 {
		at = bytes.IndexByte(doc, '{') + 1
	}
	out := make([]byte, 0, len(doc)+len(entry))
	out = append(out, doc[:at]...)
	out = append(out, entry...)
	return append(out, doc[at:]...)
}
