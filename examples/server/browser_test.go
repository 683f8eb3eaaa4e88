package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// chromiumPath finds a Chromium (Debian's package installs
// /usr/bin/chromium), or "".
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser drives one headless Chromium tab with JavaScript disabled: the
// pages must work without it.
type browser struct {
	t        *testing.T
	ctx      context.Context
	shotsDir string
	shots    int
}

func newBrowser(t *testing.T) *browser {
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium binary (apt-get install chromium; .ci/run installs it)")
		}
		t.Skip("no chromium binary: apt-get install chromium, or set CHROMIUM to one, to run the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1000, 800))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	dir := os.Getenv("INVITE_BROWSER_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, shotsDir: dir}
}

// open loads u and returns its status.
func (b *browser) open(u string) int64 {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.t.Fatalf("opening %s: %v", u, err)
	}
	return res.Status
}

// submit clicks the button of the form whose action ends with suffix, and
// waits for the page it leads to.
func (b *browser) submit(suffix string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Click(chromedp.CSS(`form[action$="`+suffix+`"] button[type="submit"]`))))
	if err != nil {
		b.t.Fatalf("submitting %s: %v", suffix, err)
	}
}

func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		b.t.Fatalf("typing into %s: %v", sel, err)
	}
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// page saves a screenshot of the current page as name, runs the
// accessibility checks over its DOM and returns the DOM.
func (b *browser) page(name string) *html.Node {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", name, err)
	}
	b.shots++
	path := filepath.Join(b.shotsDir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	src, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatalf("the DOM of %s: %v", name, err)
	}
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, problem := range accessibility(doc) {
		b.t.Errorf("%s: %s", name, problem)
	}
	return doc
}

// TestBrowser follows invitations in headless Chromium, with JavaScript
// off: an invitation created through the API, its link taken from the
// message, the pre-filled form, the acceptance and the welcome page with
// the roles, the used link, an expired, a revoked and an unknown link, and
// a decline in Arabic (right to left). Each page gets a screenshot and an
// accessibility pass over its DOM.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t)

	b.open(ts.URL + "/")
	wantText(t, b.page("home"), atom.H1, "Invitation example server")

	link := ts.invite(t, `{"invitee": {"email": "ada@example.com"}, "given_name": "Ada", "family_name": "Lovelace",
		"account_name": "Acme Corp", "inviter": {"name": "Grace Hopper"}, "roles": ["editor", "billing"],
		"groups": ["engineering"], "data": {"department": "R&D"}, "form_data": {"profile": {"team_size": "5"}},
		"require_email_match": true}`)
	if status := b.open(link); status != 200 {
		t.Fatalf("the invitation page: %d", status)
	}
	doc := b.page("invitation")
	wantText(t, doc, atom.H1, "Join Acme Corp")
	wantText(t, doc, atom.P, "Grace Hopper invited Ada Lovelace to join Acme Corp.")
	for sel, want := range map[string]string{"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com",
		"data-0": "R&D", "form-0-0": "5"} {
		in := byID(doc, sel)
		if in == nil || attr(in, "value") != want {
			t.Errorf("input #%s: want the value %q, got %v", sel, want, in)
		}
	}
	if in := byID(doc, "email"); in == nil || !hasAttr(in, "readonly") {
		t.Error("the email of an invitation bound to it is not read-only")
	}
	b.typeInto("#family_name", kb.End+"-Byron") // after the pre-filled name
	b.submit("/accept")
	if loc := b.location(); loc != ts.URL+"/welcome" {
		t.Fatalf("after accepting: at %s, want the welcome page", loc)
	}
	doc = b.page("welcome")
	wantText(t, doc, atom.H1, "Welcome, Ada Lovelace-Byron")
	if got := listItems(doc); strings.Join(got, ",") != "editor,billing,engineering" {
		t.Errorf("welcome page lists %q, want the roles editor, billing and the group engineering", got)
	}

	// The link again: used.
	if status := b.open(link); status != 410 {
		t.Errorf("the used link: %d, want 410", status)
	}
	wantText(t, b.page("already-used"), atom.H1, "This invitation has already been used")

	// An invitation valid for an hour, two hours later.
	link = ts.invite(t, `{"invitee": {"email": "bob@example.com"}, "given_name": "Bob", "expires_in_seconds": 3600,
		"account_name": "Acme Corp", "inviter": {"name": "Grace Hopper"}, "locale": "de"}`)
	ts.advance(2 * time.Hour)
	if status := b.open(link); status != 410 {
		t.Errorf("the expired link: %d, want 410", status)
	}
	doc = b.page("expired-de")
	wantText(t, doc, atom.H1, "Diese Einladung ist abgelaufen")
	if lang := attr(first(doc, atom.Html), "lang"); lang != "de" {
		t.Errorf("lang %q, want de", lang)
	}

	// Revoked by the admin.
	id, link := ts.create(t, `{"invitee": {"email": "carol@example.com"}, "account_name": "Acme Corp"}`)
	if status, body := ts.admin(t, "PATCH", "/api/tenants/acme/invitations/"+id, `{"state": "revoked"}`); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	b.open(link)
	wantText(t, b.page("revoked"), atom.H1, "This invitation was withdrawn")

	// Unknown.
	if status := b.open(ts.URL + "/invite/inv_notAToken"); status != 404 {
		t.Errorf("an unknown link: %d, want 404", status)
	}
	wantText(t, b.page("unknown"), atom.H1, "This invitation link is not valid")

	// A decline, in Arabic: right to left.
	link = ts.invite(t, `{"invitee": {"email": "dina@example.com"}, "given_name": "دينا", "account_name": "أكمي",
		"inviter": {"name": "سارة"}, "roles": ["viewer"], "locale": "ar"}`)
	b.open(link)
	doc = b.page("invitation-ar")
	if h := first(doc, atom.Html); attr(h, "lang") != "ar" || attr(h, "dir") != "rtl" {
		t.Errorf("the Arabic page: lang %q dir %q, want ar and rtl", attr(h, "lang"), attr(h, "dir"))
	}
	wantText(t, doc, atom.H1, "انضم إلى أكمي")
	b.typeInto("#reason", "لست الشخص المقصود")
	b.submit("/decline")
	doc = b.page("declined-ar")
	wantText(t, doc, atom.H1, "لقد رفضت هذه الدعوة")
	if attr(first(doc, atom.Html), "dir") != "rtl" {
		t.Error("the Arabic declined page is not right to left")
	}
}
