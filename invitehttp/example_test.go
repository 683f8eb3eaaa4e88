package invitehttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/memstore"
)

// Mount the API under /api/invite of the host's mux, with the host's own
// checks: an admin session may manage its tenant's invitations, and the
// signed-in user accepts.
func Example() {
	m, err := invite.New(memstore.New(), invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	if err != nil {
		panic(err)
	}
	api, err := invitehttp.New(invitehttp.Config{
		Manager: m,
		Authorize: func(r *http.Request, tenant string, a invitehttp.Action) error {
			if a.Public() {
				return nil // anyone holding a token; rate limit these (Config.RateLimit)
			}
			switch r.Header.Get("Authorization") { // the host's session check
			case "":
				return invitehttp.ErrUnauthenticated
			case "Bearer admin-of-" + tenant:
				return nil
			}
			return invitehttp.ErrForbidden
		},
		Subject: func(r *http.Request) (invitehttp.Subject, error) {
			if r.Header.Get("Cookie") != "session=ada" { // the host's session
				return invitehttp.Subject{}, invitehttp.ErrUnauthenticated
			}
			return invitehttp.Subject{ID: "user-1", Email: "ada@example.com"}, nil
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/invite/", http.StripPrefix("/api/invite", api))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, auth, body string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, srv.URL+"/api/invite"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Cookie", "session=ada")
		res, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	body := `{"invitee":{"email":"ada@example.com"},"roles":["admin"],"delivery":"return"}`
	status, _ := call("POST", "/tenants/acme/invitations", "", body)
	fmt.Println("without a session:", status)
	status, _ = call("POST", "/tenants/acme/invitations", "Bearer admin-of-other", body)
	fmt.Println("another tenant's admin:", status)
	status, out := call("POST", "/tenants/acme/invitations", "Bearer admin-of-acme", body)
	var created struct{ Token string } // "delivery": "return" hands the secret to the caller
	_ = json.Unmarshal([]byte(out), &created)
	fmt.Println("created:", status)
	status, out = call("POST", "/tenants/acme/invitations", "Bearer admin-of-acme", body)
	var problem struct{ Type string }
	_ = json.Unmarshal([]byte(out), &problem)
	fmt.Println("again:", status, strings.TrimPrefix(problem.Type, invitehttp.DefaultProblemTypeBase))

	// The invitee's page, then the signed-in user accepts.
	status, _ = call("GET", "/public/invitations/"+created.Token, "", "")
	fmt.Println("lookup:", status)
	status, out = call("POST", "/public/invitations/"+created.Token+"/accept", "", "")
	fmt.Println("accept:", status, strings.Contains(out, `"state":"accepted"`))
	status, _ = call("GET", "/public/invitations/"+created.Token, "", "")
	fmt.Println("lookup again:", status)
	// Output:
	// without a session: 401
	// another tenant's admin: 403
	// created: 201
	// again: 409 already-exists
	// lookup: 200
	// accept: 200 true
	// lookup again: 410
}
