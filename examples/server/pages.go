package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

//go:embed templates static
var assets embed.FS

// pages serves the HTML pages: the invitation page, its two forms, the
// pages of closed and unknown links, and the welcome page.
type pages struct {
	a          *app
	tmpl       map[string]*template.Template
	cookieKey  []byte
	secure     bool // the session cookie is Secure (an https base URL)
	csrf       *http.CrossOriginProtection
	staticRoot fs.FS
}

// The limits of the registration form's values.
const (
	maxNameLen   = 200
	maxFieldLen  = 1000
	maxReasonLen = 1000
	maxFormBytes = 64 << 10
)

func newPages(a *app) (*pages, error) {
	p := &pages{a: a, tmpl: map[string]*template.Template{}, cookieKey: randomKey(32),
		secure: strings.HasPrefix(a.cfg.baseURL, "https://")}
	layout, err := template.ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"home", "invite", "closed", "welcome", "message"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.tmpl[name] = t
	}
	if p.staticRoot, err = fs.Sub(assets, "static"); err != nil {
		return nil, err
	}
	// CSRF: the forms' POSTs are refused when a browser sends them from
	// another origin (Sec-Fetch-Site, or Origin against Host).
	p.csrf = http.NewCrossOriginProtection()
	p.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.message(w, r, http.StatusForbidden, "forbidden")
	}))
	return p, nil
}

func (p *pages) routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(p.staticRoot)))
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /invite/{token}", p.invitation)
	mux.Handle("POST /invite/{token}/accept", p.csrf.Handler(http.HandlerFunc(p.accept)))
	mux.Handle("POST /invite/{token}/decline", p.csrf.Handler(http.HandlerFunc(p.decline)))
	mux.HandleFunc("GET /welcome", p.welcome)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.message(w, r, http.StatusNotFound, "notfound")
	})
}

// view is what every page's template gets: the language, the title, and
// the page's own data.
type view struct {
	locale
	Title string
}

// render writes the page name with status. Every page: no caching (the
// invitation pages hold personal data and a secret link), no referrer
// (the link's token is in the URL), no scripts.
func (p *pages) render(w http.ResponseWriter, name string, status int, data any) {
	var b bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&b, "layout", data); err != nil {
		p.a.log.Error("rendering a page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// messageView is a page of a title and a sentence.
type messageView struct {
	view
	Body, Link, LinkText string
}

// message renders the page of key ("forbidden", "notfound", "error"):
// key+".title" and key+".body".
func (p *pages) message(w http.ResponseWriter, r *http.Request, status int, key string) {
	l := localeFor("", r)
	p.render(w, "message", status, messageView{view: view{locale: l, Title: l.T(key + ".title")}, Body: l.T(key + ".body")})
}

// failed answers an unexpected error: 503 when it may pass, else 500,
// logged but never shown.
func (p *pages) failed(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if sqlstore.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	p.a.log.Error("request failed", "method", r.Method, "path", safePath(r), "error", err)
	p.message(w, r, status, "error")
}

// safePath is the request's path without the invitation token.
func safePath(r *http.Request) string {
	if t := r.PathValue("token"); t != "" {
		return strings.Replace(r.URL.Path, t, "{token}", 1)
	}
	return r.URL.Path
}

type homeView struct {
	view
	Curl         string
	MailDir      string
	DefaultToken bool
}

func (p *pages) home(w http.ResponseWriter, r *http.Request) {
	l := localeFor("en", nil) // the home page is for developers, in English
	token := "$INVITE_ADMIN_TOKEN"
	if p.a.cfg.adminToken == defaultAdminToken {
		token = defaultAdminToken
	}
	curl := "curl -sS " + p.a.cfg.baseURL + "/api/tenants/acme/invitations \\\n" +
		"  -H 'Authorization: Bearer " + token + "' -H 'Content-Type: application/json' \\\n" +
		`  -d '{"invitee": {"email": "ada@example.com"}, "given_name": "Ada", "family_name": "Lovelace",` + "\n" +
		`       "account_name": "Acme Corp", "inviter": {"name": "Grace"}, "roles": ["editor"],` + "\n" +
		`       "groups": ["engineering"], "data": {"department": "R&D"}}'`
	p.render(w, "home", http.StatusOK, homeView{view: view{locale: l, Title: l.T("home.title")}, Curl: curl,
		MailDir: p.a.cfg.mailDir, DefaultToken: token == defaultAdminToken})
}

// field is one control of a form.
type field struct {
	ID, Name, Label, Value, Type, Autocomplete, Hint, Error string
	Required, ReadOnly, Multiline                           bool
	MaxLen                                                  int
}

// fieldset groups the custom fields of one form.
type fieldset struct {
	Legend string
	Fields []field
}

// inviteView is the page of an open invitation.
type inviteView struct {
	view
	Inv    *invite.PublicInvitation
	Token  string
	Lead   string
	Main   []field
	Sets   []fieldset
	Reason field
	Errors []field
}

// inviteForm builds the page of inv, its fields pre-filled from the
// invitation or, when the form was posted, from the request (form).
func (p *pages) inviteForm(r *http.Request, token string, inv *invite.PublicInvitation, posted bool) inviteView {
	l := localeFor(inv.Locale, r)
	v := inviteView{view: view{locale: l, Title: l.T("invite.title", accountOf(inv))}, Inv: inv, Token: token}
	who := inv.Name()
	if who == "" {
		who = inv.Email
	}
	if who == "" {
		v.Lead = l.T("invite.lead.you", inviterOf(l, inv), accountOf(inv))
	} else {
		v.Lead = l.T("invite.lead", inviterOf(l, inv), who, accountOf(inv))
	}
	value := func(name, prefilled string) string {
		if posted {
			return r.PostFormValue(name)
		}
		return prefilled
	}
	v.Main = []field{
		{ID: "given_name", Name: "given_name", Label: l.T("form.given_name"), Type: "text", Autocomplete: "given-name",
			Required: true, MaxLen: maxNameLen, Value: value("given_name", inv.GivenName)},
		{ID: "family_name", Name: "family_name", Label: l.T("form.family_name"), Type: "text", Autocomplete: "family-name",
			MaxLen: maxNameLen, Value: value("family_name", inv.FamilyName)},
		{ID: "email", Name: "email", Label: l.T("form.email"), Type: "email", Autocomplete: "email",
			Required: true, MaxLen: invite.MaxEmailLen, Value: value("email", inv.Email)},
	}
	if inv.RequireEmailMatch && inv.Email != "" {
		// Bound to the invited email: shown, not editable, and sent as is.
		v.Main[2].ReadOnly, v.Main[2].Value, v.Main[2].Hint = true, inv.Email, l.T("form.email.bound")
	}
	if len(inv.Data) > 0 {
		set := fieldset{Legend: l.T("form.details")}
		for i, k := range slices.Sorted(maps.Keys(inv.Data)) {
			set.Fields = append(set.Fields, field{ID: "data-" + strconv.Itoa(i), Name: "data." + k, Label: humanize(k),
				Type: "text", MaxLen: maxFieldLen, Value: value("data."+k, inv.Data[k])})
		}
		v.Sets = append(v.Sets, set)
	}
	for i, form := range slices.Sorted(maps.Keys(inv.FormData)) {
		set := fieldset{Legend: humanize(form)}
		for j, k := range slices.Sorted(maps.Keys(inv.FormData[form])) {
			name := "form." + form + "." + k
			set.Fields = append(set.Fields, field{ID: "form-" + strconv.Itoa(i) + "-" + strconv.Itoa(j), Name: name, Label: humanize(k),
				Type: "text", MaxLen: maxFieldLen, Value: value(name, inv.FormData[form][k])})
		}
		v.Sets = append(v.Sets, set)
	}
	v.Reason = field{ID: "reason", Name: "reason", Label: l.T("decline.reason"), Multiline: true, MaxLen: maxReasonLen}
	return v
}

// check validates the posted registration form, marking each field at
// fault; it reports whether all are right.
func (v *inviteView) check() bool {
	for i := range v.Main {
		f := &v.Main[i]
		f.Value = strings.TrimSpace(f.Value)
		switch {
		case f.Required && f.Value == "":
			f.Error = v.T("err.required")
		case utf8.RuneCountInString(f.Value) > f.MaxLen:
			f.Error = v.T("err.too_long", f.MaxLen)
		case f.Name == "email":
			if _, ok := invite.NormalizeEmail(f.Value); !ok {
				f.Error = v.T("err.email")
			}
		}
	}
	for i := range v.Sets {
		for j := range v.Sets[i].Fields {
			f := &v.Sets[i].Fields[j]
			if utf8.RuneCountInString(f.Value) > f.MaxLen {
				f.Error = v.T("err.too_long", f.MaxLen)
			}
		}
	}
	v.collectErrors()
	return len(v.Errors) == 0
}

// collectErrors lists the fields at fault, for the summary at the top.
func (v *inviteView) collectErrors() {
	v.Errors = nil
	for _, f := range v.Main {
		if f.Error != "" {
			v.Errors = append(v.Errors, f)
		}
	}
	for _, s := range v.Sets {
		for _, f := range s.Fields {
			if f.Error != "" {
				v.Errors = append(v.Errors, f)
			}
		}
	}
	if v.Reason.Error != "" {
		v.Errors = append(v.Errors, v.Reason)
	}
}

// fields returns the custom fields' values by name.
func (v *inviteView) fields() map[string]string {
	out := map[string]string{}
	for _, s := range v.Sets {
		for _, f := range s.Fields {
			out[f.Name] = strings.TrimSpace(f.Value)
		}
	}
	return out
}

// closedView is the page of a link that can no longer be used.
type closedView struct {
	view
	Body, About string
}

// closed renders the page for a Lookup (or Accept, Reject) error: the
// invitation's state when the error says it, else the unknown link.
func (p *pages) closed(w http.ResponseWriter, r *http.Request, err error) {
	var te *invite.TransitionError
	var pub *invite.PublicInvitation
	if errors.As(err, &te) {
		pub = te.Public
	}
	kind := ""
	switch {
	case errors.Is(err, invite.ErrInvalidToken):
		kind = "unknown"
	case errors.Is(err, invite.ErrExpired):
		kind = "expired"
	case errors.Is(err, invite.ErrAlreadyAccepted):
		kind = "used"
	case te != nil && te.From == invite.StateRevoked:
		kind = "revoked"
	case te != nil && te.From == invite.StateRejected:
		kind = "declined"
	default:
		p.failed(w, r, err)
		return
	}
	status := http.StatusGone
	if kind == "unknown" {
		status = http.StatusNotFound
	}
	loc := ""
	if pub != nil {
		loc = pub.Locale
	}
	l := localeFor(loc, r)
	v := closedView{view: view{locale: l, Title: l.T("closed." + kind)}}
	inviter := l.T("closed.someone")
	if pub != nil && pub.InviterName != "" {
		inviter = pub.InviterName
	}
	switch kind {
	case "expired", "revoked", "declined":
		v.Body = l.T("closed."+kind+".body", inviter)
	default:
		v.Body = l.T("closed." + kind + ".body")
	}
	if pub != nil {
		who := pub.Name()
		if who == "" {
			who = pub.Email
		}
		if who == "" {
			v.About = l.T("closed.about.you", inviterOf(l, pub), accountOf(pub))
		} else {
			v.About = l.T("closed.about", inviterOf(l, pub), who, accountOf(pub))
		}
	}
	p.render(w, "closed", status, v)
}

// invitation is the page the link opens. It only reads: mail scanners
// fetch every link.
func (p *pages) invitation(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, err := p.a.m.Lookup(r.Context(), token)
	if err != nil {
		p.closed(w, r, err)
		return
	}
	p.render(w, "invite", http.StatusOK, p.inviteForm(r, token, inv.Public(), false))
}

// readForm parses the posted form, at most maxFormBytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// accept registers the invitee: it accepts the invitation and creates
// the user in one transaction, signs them in and sends them to the
// welcome page.
func (p *pages) accept(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	if err := readForm(w, r); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	inv, err := p.a.m.Lookup(ctx, token)
	if err != nil {
		var te *invite.TransitionError
		if errors.As(err, &te) && te.From == invite.StateAccepted {
			// The form sent again by whoever accepted: their account.
			if usr := p.sessionUser(r); usr != nil && usr.InvitationID == te.ID {
				http.Redirect(w, r, "/welcome", http.StatusSeeOther)
				return
			}
		}
		p.closed(w, r, err)
		return
	}
	v := p.inviteForm(r, token, inv.Public(), true)
	if !v.check() {
		p.render(w, "invite", http.StatusUnprocessableEntity, v)
		return
	}
	email, _ := invite.NormalizeEmail(v.Main[2].Value)
	usr := &user{
		// New users get an id of the invitation's, so that the form sent
		// twice at once replays the acceptance instead of failing.
		ID: "user-" + inv.ID, TenantID: inv.TenantID, InvitationID: inv.ID, Email: email,
		GivenName: v.Main[0].Value, FamilyName: v.Main[1].Value, Locale: inv.Locale,
		AccountName: accountOf(inv.Public()), Roles: inv.Roles, Groups: inv.Groups, Fields: v.fields(),
		CreatedAt: p.a.cfg.now(),
	}
	if inv.Invitee.UserID != "" {
		// An invitation to an existing user id: only that user may accept.
		// DEMO ONLY: the link stands in for the user's sign-in.
		usr.ID = inv.Invitee.UserID
	}

	err = p.register(ctx, token, usr)
	switch {
	case err == nil:
	case errors.Is(err, invite.ErrEmailMismatch):
		v.Main[2].Error = v.T("err.email_mismatch")
	case errors.Is(err, errEmailTaken):
		v.Main[2].Error = v.T("err.email_taken")
	case errors.Is(err, invite.ErrInvalidTransition), errors.Is(err, invite.ErrExpired),
		errors.Is(err, invite.ErrInvalidToken):
		// Closed since the lookup: its page says how.
		http.Redirect(w, r, "/invite/"+token, http.StatusSeeOther)
		return
	default:
		p.failed(w, r, err)
		return
	}
	if v.Main[2].Error != "" {
		v.collectErrors()
		p.render(w, "invite", http.StatusUnprocessableEntity, v)
		return
	}
	p.signIn(w, usr.ID)
	http.Redirect(w, r, "/welcome", http.StatusSeeOther)
}

// register accepts the invitation of token as usr and creates usr (or, for
// an existing user, adds the grants) in one database transaction.
func (p *pages) register(ctx context.Context, token string, usr *user) error {
	tx, err := p.a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	acc, err := p.a.m.WithStore(p.a.store.WithTx(tx)).Accept(ctx, token,
		invite.AcceptInput{Subject: usr.ID, Email: usr.Email, TenantID: usr.TenantID})
	if err != nil {
		return err
	}
	if !acc.Replayed {
		existing, err := p.a.users.get(ctx, tx, usr.ID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = p.a.users.insert(ctx, tx, usr)
		case err == nil:
			err = p.a.users.grant(ctx, tx, existing, acc.Invitation.Roles, acc.Invitation.Groups)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// decline records the invitee's refusal, then shows the link's page,
// which now says so.
func (p *pages) decline(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if err := readForm(w, r); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	_, err := p.a.m.Reject(r.Context(), token, reason)
	if errors.Is(err, invite.ErrInvalid) {
		inv, lerr := p.a.m.Lookup(r.Context(), token)
		if lerr != nil {
			p.closed(w, r, lerr)
			return
		}
		v := p.inviteForm(r, token, inv.Public(), false)
		v.Reason.Value = reason
		v.Reason.Error = v.T("err.too_long", maxReasonLen)
		v.collectErrors()
		p.render(w, "invite", http.StatusUnprocessableEntity, v)
		return
	}
	var te *invite.TransitionError
	if err != nil && !errors.As(err, &te) && !errors.Is(err, invite.ErrExpired) && !errors.Is(err, invite.ErrInvalidToken) {
		p.failed(w, r, err)
		return
	}
	http.Redirect(w, r, "/invite/"+token, http.StatusSeeOther)
}

type welcomeView struct {
	view
	User    *user
	Account string
}

func (p *pages) welcome(w http.ResponseWriter, r *http.Request) {
	usr := p.sessionUser(r)
	if usr == nil {
		l := localeFor("", r)
		p.render(w, "message", http.StatusOK, messageView{view: view{locale: l, Title: l.T("signin.title")}, Body: l.T("signin.body")})
		return
	}
	l := localeFor(usr.Locale, r)
	name := strings.TrimSpace(usr.GivenName + " " + usr.FamilyName)
	p.render(w, "welcome", http.StatusOK, welcomeView{view: view{locale: l, Title: l.T("welcome.title", name)},
		User: usr, Account: usr.AccountName})
}

// The session: a cookie holding the user id and its HMAC under a key of
// this process. DEMO ONLY: a real application has its own sessions.
const sessionCookie = "session"

func (p *pages) sign(id string) string {
	mac := hmac.New(sha256.New, p.cookieKey)
	mac.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (p *pages) signIn(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(id)) + "." + p.sign(id),
		Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
}

// sessionUser returns the signed-in user, or nil.
func (p *pages) sessionUser(r *http.Request) *user {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	enc, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	id, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(mac), []byte(p.sign(string(id)))) {
		return nil
	}
	usr, err := p.a.users.get(r.Context(), p.a.db, string(id))
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			p.a.log.Warn("reading the session's user", "error", err)
		}
		return nil
	}
	return usr
}

// accountOf names what the invitation is to: the account, else the tenant.
func accountOf(inv *invite.PublicInvitation) string {
	if inv.AccountName != "" {
		return inv.AccountName
	}
	return inv.TenantID
}

// inviterOf names who invited.
func inviterOf(l locale, inv *invite.PublicInvitation) string {
	if inv.InviterName != "" {
		return inv.InviterName
	}
	return l.T("closed.someone")
}

// humanize turns a field key ("cost_center") into a label ("Cost center").
func humanize(key string) string {
	s := strings.Join(strings.FieldsFunc(key, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), " ")
	if s == "" {
		return key
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
