package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
	"github.com/invitekit/invite/invitetmpl"
)

// smtpNotifier returns the SMTP notifier of -smtp (a URL
// smtp://[user[:password]@]host[:port][?tls=starttls|opportunistic|implicit|none])
// sending as from, with the default templates.
func smtpNotifier(raw, from string, logger *slog.Logger) (invite.Notifier, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("-smtp %q: want smtp://[user[:password]@]host[:port][?tls=...]", redactedURL(raw))
	}
	cfg := invitesmtp.Config{Host: u.Hostname(), From: from, Logger: logger}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("-smtp: port %q is not a number", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	switch t := u.Query().Get("tls"); t {
	case "", "starttls":
		cfg.TLS = invitesmtp.StartTLS
	case "opportunistic":
		cfg.TLS = invitesmtp.StartTLSOpportunistic
	case "implicit":
		cfg.TLS = invitesmtp.ImplicitTLS
	case "none":
		cfg.TLS = invitesmtp.NoTLS
	default:
		return nil, fmt.Errorf("-smtp: tls=%q is not starttls, opportunistic, implicit or none", t)
	}
	if cfg.Renderer, err = invitetmpl.New(invitetmpl.Config{}); err != nil {
		return nil, err
	}
	return invitesmtp.New(cfg)
}

// redactedURL is raw without its password, for error messages.
func redactedURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}
