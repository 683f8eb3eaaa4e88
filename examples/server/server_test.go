package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const testAdminToken = "test-admin-token"

// testServer is the application on a loopback port, with a clock the test
// moves and the messages the development notifier wrote.
type testServer struct {
	URL    string
	offset atomic.Int64 // added to time.Now

	mu   sync.Mutex
	sent []sentMessage
}

// startServer serves the application on SQLite in a temporary directory
// until the test ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{URL: "http://" + ln.Addr().String()}
	dir := t.TempDir()
	cfg := config{
		addr: ln.Addr().String(), baseURL: ts.URL, dataDir: dir, db: filepath.Join(dir, "invite.db"),
		mailDir: filepath.Join(dir, "mail"), adminToken: testAdminToken,
		logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		now:    func() time.Time { return time.Now().Add(time.Duration(ts.offset.Load())) },
		sent: func(m sentMessage) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.sent = append(ts.sent, m)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// Wait for the listener to answer.
	for i := 0; ; i++ {
		res, err := http.Get(ts.URL + "/")
		if err == nil {
			res.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("the server does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ts
}

// advance moves the server's clock.
func (ts *testServer) advance(d time.Duration) { ts.offset.Add(int64(d)) }

// invite creates an invitation through the API, as an admin would, and
// returns the link of the message the development notifier wrote for it.
func (ts *testServer) invite(t *testing.T, body string) string {
	t.Helper()
	_, link := ts.create(t, body)
	return link
}

// create is invite, returning the invitation's id too.
func (ts *testServer) create(t *testing.T, body string) (id, link string) {
	t.Helper()
	status, b := ts.admin(t, "POST", "/api/tenants/acme/invitations", body)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, b)
	}
	var out struct {
		Invitation struct {
			ID      string
			Invitee struct{ Email string }
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Invitation.ID, ts.link(t, out.Invitation.Invitee.Email)
}

// admin sends an API request with the admin token.
func (ts *testServer) admin(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// link returns the link of the last message to email, waiting up to 5 s
// for it.
func (ts *testServer) link(t *testing.T, email string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts.mu.Lock()
		for i := len(ts.sent) - 1; i >= 0; i-- {
			if ts.sent[i].To == email {
				ts.mu.Unlock()
				return ts.sent[i].Link
			}
		}
		ts.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s", email)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser without JavaScript: cookies, no redirects followed
// automatically (the test checks each).
func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// post sends a form as a same-origin browser does, or from another site.
func post(t *testing.T, c *http.Client, u string, form url.Values, site string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

// mustContain checks that the page body has each of wants, and passes
// the accessibility checks.
func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range accessibility(doc) {
		t.Errorf("%s: %s", what, problem)
	}
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// TestWithoutJavaScript walks the pages as a browser without JavaScript
// (plain requests): the form, its checks, the cross-site refusal, the
// acceptance with the user created, and the closed and unknown links.
func TestWithoutJavaScript(t *testing.T) {
	ts := startServer(t)
	c := client(t)
	link := ts.invite(t, `{"invitee": {"email": "ada@example.com"}, "given_name": "Ada", "family_name": "Lovelace",
		"account_name": "Acme Corp", "inviter": {"name": "Grace"}, "roles": ["editor"], "groups": ["engineering"],
		"data": {"department": "R&D"}, "require_email_match": true}`)
	if !strings.HasPrefix(link, ts.URL+"/invite/") {
		t.Fatalf("link %s", link)
	}

	status, body := get(t, c, link)
	if status != 200 {
		t.Fatalf("invitation page: %d", status)
	}
	mustContain(t, "the invitation page", body, "Grace invited Ada Lovelace to join Acme Corp.", `value="Ada"`,
		`value="Lovelace"`, `value="R&amp;D"`, `<li>editor</li>`, "readonly")

	// Another site's form is refused, and changes nothing.
	form := url.Values{"given_name": {"Ada"}, "family_name": {"Lovelace"}, "email": {"ada@example.com"}}
	if status, _, _ := post(t, c, link+"/accept", form, "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-site accept: %d, want 403", status)
	}
	if status, _, _ := post(t, c, link+"/decline", nil, "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-site decline: %d, want 403", status)
	}
	// A form with a missing name is shown again with its error.
	status, _, body = post(t, c, link+"/accept", url.Values{"given_name": {" "}, "email": {"ada@example.com"}}, "same-origin")
	if status != http.StatusUnprocessableEntity {
		t.Errorf("incomplete form: %d, want 422", status)
	}
	mustContain(t, "the incomplete form", body, `aria-invalid="true"`, "This field is required.", `href="#given_name"`)

	status, loc, _ := post(t, c, link+"/accept", form, "same-origin")
	if status != http.StatusSeeOther || loc != "/welcome" {
		t.Fatalf("accept: %d %q, want 303 to /welcome", status, loc)
	}
	status, body = get(t, c, ts.URL+"/welcome")
	if status != 200 {
		t.Fatalf("welcome: %d", status)
	}
	mustContain(t, "the welcome page", body, "Welcome, Ada Lovelace", "<li>editor</li>", "<li>engineering</li>")

	// The form sent again by the same browser leads back to the account;
	// the link itself is used up.
	if status, loc, _ := post(t, c, link+"/accept", form, "same-origin"); status != http.StatusSeeOther || loc != "/welcome" {
		t.Errorf("accept again: %d %q", status, loc)
	}
	status, body = get(t, client(t), link)
	if status != http.StatusGone {
		t.Errorf("used link: %d, want 410", status)
	}
	mustContain(t, "the used link's page", body, "This invitation has already been used")
	status, body = get(t, c, ts.URL+"/invite/inv_nothing")
	if status != http.StatusNotFound {
		t.Errorf("unknown link: %d, want 404", status)
	}
	mustContain(t, "the unknown link's page", body, "This invitation link is not valid")

	// Decline, in German.
	link = ts.invite(t, `{"invitee": {"email": "bob@example.com"}, "given_name": "Bob", "locale": "de-AT"}`)
	status, loc, _ = post(t, c, link+"/decline", url.Values{"reason": {"wrong person"}}, "same-origin")
	if status != http.StatusSeeOther {
		t.Fatalf("decline: %d", status)
	}
	status, body = get(t, c, ts.URL+loc)
	if status != http.StatusGone {
		t.Errorf("declined link: %d, want 410", status)
	}
	mustContain(t, "the declined page", body, `lang="de-AT"`, "Sie haben diese Einladung abgelehnt")

	// The API refuses admin requests without the token.
	res, err := http.Post(ts.URL+"/api/tenants/acme/invitations", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("create without the token: %d, want 401", res.StatusCode)
	}
}

func TestFlags(t *testing.T) {
	parse := func(env map[string]string, args ...string) (config, error) {
		return parseFlags(flag.NewFlagSet("server", flag.ContinueOnError), args, func(k string) string { return env[k] })
	}
	cfg, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.baseURL != "http://127.0.0.1:8080" || cfg.adminToken != defaultAdminToken ||
		cfg.db != filepath.Join(cfg.dataDir, "invite.db") || cfg.mailDir != filepath.Join(cfg.dataDir, "mail") {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = parse(map[string]string{"INVITE_DB": "postgres://x/y", "INVITE_ADDR": ":9000", "INVITE_ADMIN_TOKEN": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.db != "postgres://x/y" || cfg.baseURL != "http://localhost:9000" {
		t.Errorf("from the environment: %+v", cfg)
	}
	cfg, err = parse(map[string]string{"INVITE_ADDR": ":9000"}, "-addr", "[::1]:9001", "-base-url", "https://app.example/")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "[::1]:9001" || cfg.baseURL != "https://app.example" {
		t.Errorf("flags over the environment: %+v", cfg)
	}
	if _, err := parse(nil, "-addr", ":9000"); err == nil || !strings.Contains(err.Error(), "admin-token") {
		t.Errorf("the public token on every interface: %v, want a refusal", err)
	}
	if _, err := parse(nil, "extra"); err == nil {
		t.Error("an argument: want an error")
	}
	if _, err := parse(nil, "-nope"); err == nil {
		t.Error("an unknown flag: want an error")
	}
}
