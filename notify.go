package invite

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"
)

// Channel is how a message reaches the invitee.
type Channel string

// The channels. ChannelUser is for invitations addressed only to an existing
// user id: the host's notifier resolves how to reach that user (in-app
// notification, the user's stored email).
const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
	ChannelUser  Channel = "user"
)

// ChannelFor picks the channel for an invitee: email when there is one, else
// SMS, else the user id. It returns "" when the invitee has none of them.
func ChannelFor(iv Invitee) (Channel, string) {
	switch {
	case iv.Email != "":
		return ChannelEmail, iv.Email
	case iv.Phone != "":
		return ChannelSMS, iv.Phone
	case iv.UserID != "":
		return ChannelUser, iv.UserID
	}
	return "", ""
}

// Message is one invitation to deliver. ID is stable for the delivery it
// describes: a notifier that may be called twice for the same delivery
// deduplicates on it.
type Message struct {
	ID           string
	TenantID     string
	InvitationID string
	// Resend is true for a resend, false for the first delivery.
	Resend      bool
	Channel     Channel
	To          string
	Locale      string
	TemplateKey string
	Vars        Vars
}

// Vars are the template variables of a message. InviteLink and Code are
// secrets: they print as redacted; Map reveals them for rendering.
type Vars struct {
	Name        string
	InviteLink  Secret
	InvitedBy   string
	AccountName string
	ExpiresAt   time.Time
	Code        Secret
}

// Map returns the variables under their template names: name, invite_link,
// invited_by, account_name, expires_at (RFC 3339) and code, with the secrets
// in plaintext. Use it only to render the message.
func (v Vars) Map() map[string]string {
	return map[string]string{
		"name":         v.Name,
		"invite_link":  v.InviteLink.Reveal(),
		"invited_by":   v.InvitedBy,
		"account_name": v.AccountName,
		"expires_at":   v.ExpiresAt.UTC().Format(time.RFC3339),
		"code":         v.Code.Reveal(),
	}
}

// Notifier delivers invitation messages. Notify must return nil only once
// the message has been handed to its transport; an error leaves the
// invitation pending so the host can retry with Resend.
type Notifier interface {
	Notify(ctx context.Context, msg Message) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, msg Message) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, msg Message) error { return f(ctx, msg) }

// LinkData is what a link template sees. Every value is already escaped
// (escapeLinkValue) so that it reads back as itself in a query value and
// in a path segment alike, so a template such as
//
//	https://app.example/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.TenantID}}
//	https://app.example/orgs/{{.TenantID}}/invite/{{.Code}}
//
// yields a well-formed URL whatever the values hold.
type LinkData struct {
	// Token is the link token.
	Token string
	// Code is the link token again, under the name some link formats give
	// it ("...?code={{.Code}}"). It is not the short code: that is
	// ShortCode. Prefer Token in new templates.
	Code string
	// ShortCode is the short code, when one was minted.
	ShortCode string
	// OrgID is TenantID again, for link formats that call the tenant an
	// organisation.
	InvitationID, TenantID, OrgID, UserID    string
	Email, Phone, ClientID, Locale, Redirect string
}

func newLinkData(inv *Invitation, token, code string) LinkData {
	e := escapeLinkValue
	return LinkData{
		Token: e(token), Code: e(token), ShortCode: e(code),
		InvitationID: e(inv.ID), TenantID: e(inv.TenantID), OrgID: e(inv.TenantID),
		UserID: e(inv.Invitee.UserID), Email: e(inv.Invitee.Email), Phone: e(inv.Invitee.Phone),
		ClientID: e(inv.ClientID), Locale: e(inv.Locale), Redirect: e(inv.RedirectURI),
	}
}

// escapeLinkValue escapes s for a link: every byte but the unreserved ones
// (RFC 3986: letters, digits, '-', '.', '_', '~') is percent-encoded, a
// space as %20, which a query and a path both decode to a space (the '+'
// of url.QueryEscape is a space in a query but a plus sign in a path).
func escapeLinkValue(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// parseLinkTemplate parses and test-renders a link template, so that a bad
// template is a validation error before anything is stored.
//
// A link template may hold only text and plain field references such as
// {{.Token}}: no pipelines, functions, range, if or with. Templates can come
// from API callers (an API may take one per request), and a loop or a
// call would let a caller burn CPU and memory on every render.
func parseLinkTemplate(s string) (*template.Template, error) {
	t, err := template.New("link").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, err
	}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			if len(n.Pipe.Decl) != 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
				return nil, errors.New("only plain fields such as {{.Token}} are allowed")
			}
			if f, ok := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode); !ok || len(f.Ident) != 1 {
				return nil, errors.New("only plain fields such as {{.Token}} are allowed")
			}
		default:
			return nil, errors.New("only text and plain fields such as {{.Token}} are allowed")
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, LinkData{}); err != nil {
		return nil, err
	}
	return t, nil
}

// buildLink renders inv's link for the given secrets and checks it: a link
// that is not an absolute https URL (http for localhost), or that points
// outside Config.LinkHosts, is a *ValidationError naming where it came
// from (LinkTemplate or RedirectURI).
func (m *Manager) buildLink(inv *Invitation, token, code Secret) (string, error) {
	link, err := buildLink(m.link, m.cfg.LinkTokenParam, inv, token.Reveal(), code.Reveal())
	if err != nil {
		return "", fmt.Errorf("invite: building link: %w", err)
	}
	if link == "" {
		return "", nil
	}
	if reason := linkProblem(link, m.cfg.LinkHosts); reason != "" {
		field := "LinkTemplate"
		if inv.LinkTemplate == "" && m.link == nil {
			field = "RedirectURI"
		}
		return "", &ValidationError{Fields: []FieldError{newFieldError(field, "renders a link that "+reason, nil)}}
	}
	return link, nil
}

// renderSample renders t with a sample value in every field, to check the
// shape of the links it makes.
func renderSample(t *template.Template) string {
	var b strings.Builder
	_ = t.Execute(&b, LinkData{Token: "t", Code: "t", ShortCode: "c", InvitationID: "i", TenantID: "o", OrgID: "o",
		UserID: "u", Email: "e", Phone: "p", ClientID: "c", Locale: "l", Redirect: "r"})
	return b.String()
}

// buildLink renders the invitation's link: its own LinkTemplate, else the
// configured one, else its RedirectURI with the token added as the query
// parameter param. It returns "" when none of them is set.
func buildLink(def *template.Template, param string, inv *Invitation, token, code string) (string, error) {
	t := def
	if inv.LinkTemplate != "" {
		var err error
		if t, err = parseLinkTemplate(inv.LinkTemplate); err != nil {
			return "", err
		}
	}
	if t != nil {
		var b strings.Builder
		if err := t.Execute(&b, newLinkData(inv, token, code)); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	if inv.RedirectURI == "" {
		return "", nil
	}
	u, err := url.Parse(inv.RedirectURI)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set(param, token)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkRedirectURI is fieldErrs.checkRedirectURI, with the host within
// Config.LinkHosts when set (the link may be built from it).
func (m *Manager) checkRedirectURI(fe *fieldErrs, field, s string) {
	n := len(fe.list)
	fe.checkRedirectURI(field, s)
	if s != "" && len(fe.list) == n && len(m.cfg.LinkHosts) > 0 {
		if linkProblem(s, m.cfg.LinkHosts) != "" {
			fe.add(field, "must point to a host of Config.LinkHosts (a plain host name, default port)")
		}
	}
}

// checkRedirectURI accepts an absolute https URI, or http for a loopback
// host (local development).
func (fe *fieldErrs) checkRedirectURI(field, s string) {
	if s == "" {
		return
	}
	if len(s) > maxTemplateLen || !utf8.ValidString(s) || hasControl(s) {
		fe.add(field, "is too long, not valid UTF-8 or contains control characters")
		return
	}
	if reason := uriProblem(s); reason != "" {
		fe.add(field, reason)
	}
}

// uriProblem is "" for an absolute https URI (http for a loopback host),
// else what is wrong with s.
func uriProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute URI"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
			return ""
		}
	}
	return "must use https (http only for localhost)"
}

// linkProblem is "" when link may be sent as an invitation link: an
// absolute https URL (http for a loopback host) to one of hosts (any host
// when hosts is empty). Otherwise it says what is wrong, as the end of a
// sentence starting "renders a link that".
func linkProblem(link string, hosts []string) string {
	if reason := uriProblem(link); reason != "" {
		return "is not an absolute https URL (http only for localhost)"
	}
	if len(hosts) == 0 {
		return ""
	}
	u, _ := url.Parse(link) // parsed by uriProblem
	host := strings.ToLower(u.Hostname())
	// Only a plain host name on the default port can match: no port, no
	// IPv6 zone ("[fe80::1%25evil.example.com]"), nothing outside ASCII
	// letters, digits, '-' and '.'.
	if u.Port() != "" || !validHostPattern(host) || strings.HasPrefix(host, "*.") {
		return "points to a host outside Config.LinkHosts (a plain host name, default port)"
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if host == h || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) && len(host) > len(h)-1) {
			return ""
		}
	}
	return "points to a host outside Config.LinkHosts"
}

// validHostPattern accepts a host name (letters, digits, '-', '.') or one
// with a leading "*." for its subdomains.
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
