package invitesmtp

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// TLSMode is how the connection to the server is protected.
type TLSMode int

// The TLS modes. The zero value, StartTLS, is the default.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS before
	// anything else; a server that does not offer STARTTLS is an error.
	// Default port 587.
	StartTLS TLSMode = iota
	// StartTLSOpportunistic upgrades with STARTTLS when the server offers
	// it and carries on in plain text when it does not. Anyone on the path
	// can strip the offer: use it only where StartTLS cannot work. PLAIN
	// and LOGIN refuse to send a password over a plain connection (except
	// to a loopback host), so without TLS only CRAM-MD5 can authenticate.
	// Default port 587.
	StartTLSOpportunistic
	// ImplicitTLS speaks TLS from the first byte (submissions over TLS).
	// Default port 465.
	ImplicitTLS
	// NoTLS never encrypts. It is allowed only for a loopback Host
	// ("localhost", 127.0.0.0/8, "::1"): a relay on the same machine, or a
	// test server. Default port 25.
	NoTLS
)

func (m TLSMode) String() string {
	switch m {
	case StartTLS:
		return "starttls"
	case StartTLSOpportunistic:
		return "starttls-opportunistic"
	case ImplicitTLS:
		return "implicit-tls"
	case NoTLS:
		return "none"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// AuthMechanism is an SMTP authentication mechanism.
type AuthMechanism string

// The mechanisms the Notifier can authenticate with.
const (
	AuthPlain   AuthMechanism = "PLAIN"
	AuthLogin   AuthMechanism = "LOGIN"
	AuthCRAMMD5 AuthMechanism = "CRAM-MD5"
)

// DefaultAuthMechanisms is the default Config.AuthMechanisms: PLAIN, then
// LOGIN, then CRAM-MD5.
var DefaultAuthMechanisms = []AuthMechanism{AuthPlain, AuthLogin, AuthCRAMMD5}

// ListUnsubscribe is the List-Unsubscribe header every message carries
// (none when both URL and Mailto are empty). Mail clients show an
// "unsubscribe" button for it.
type ListUnsubscribe struct {
	// URL is an https URL (http only for a loopback host) the button
	// opens, or POSTs to with OneClick.
	URL string
	// Mailto is an email address the button writes to, as in
	// "unsubscribe@acme.example" (the header gets "mailto:" and the
	// address).
	Mailto string
	// OneClick adds "List-Unsubscribe-Post: List-Unsubscribe=One-Click":
	// clients POST to URL without showing a page. It needs an https URL.
	OneClick bool
}

// Config configures a Notifier. Host, From and Renderer are required;
// every other field has the default its comment gives.
type Config struct {
	// Host is the SMTP server's host name or IP address. Required.
	Host string
	// Port is the server's port. Default: 587 for StartTLS and
	// StartTLSOpportunistic, 465 for ImplicitTLS, 25 for NoTLS.
	Port int
	// TLS is how the connection is protected. Default: StartTLS (required
	// STARTTLS).
	TLS TLSMode
	// TLSConfig configures TLS, for instance RootCAs for a server with a
	// private certificate authority. It is cloned; ServerName defaults to
	// Host and MinVersion to TLS 1.2. Default: the system's roots.
	TLSConfig *tls.Config
	// HELO is the name the Notifier introduces itself with. Default: the
	// machine's host name.
	HELO string

	// Username and Password authenticate to the server; no
	// authentication when Username is empty.
	Username, Password string
	// AuthMechanisms are the mechanisms the Notifier may use, in order of
	// preference: it uses the first one the server offers, and fails to
	// connect when the server offers none of them. Default:
	// DefaultAuthMechanisms (PLAIN, LOGIN, CRAM-MD5).
	AuthMechanisms []AuthMechanism

	// From is the sender, as "Acme <invites@acme.example>" or
	// "invites@acme.example". Required.
	From string
	// ReplyTo is where replies go, in the same forms. Default: none (replies
	// go to From).
	ReplyTo string
	// EnvelopeFrom is the address bounces go to (the SMTP envelope
	// sender). Default: From's address. A server that refuses it (MAIL
	// FROM), even with a 5xx reply, fails the message with a retryable
	// error, not a permanent one: the sender is the configuration's
	// fault, shared by every message.
	EnvelopeFrom string
	// ListUnsubscribe is the List-Unsubscribe header. Default: none.
	ListUnsubscribe ListUnsubscribe
	// MessageIDDomain is the domain part of the Message-ID header
	// ("<message id@domain>"). Default: the domain of From's address.
	MessageIDDomain string

	// Renderer turns a message into its subject and bodies: an
	// *invitetmpl.Renderer, or a type of the host's own. Required.
	Renderer Renderer
	// Logger receives operational logs: connections, sends, failures;
	// never a link, a code or a password. Default: discard.
	Logger *slog.Logger

	// ConnectTimeout bounds opening a connection: dialling, the greeting,
	// TLS and authentication. Default: 15 seconds.
	ConnectTimeout time.Duration
	// SendTimeout bounds sending one message on an open connection.
	// Default: 30 seconds. Notify's context can only shorten both.
	SendTimeout time.Duration
	// IdleTimeout closes a connection unused for that long before the next
	// message (servers drop idle clients after a few minutes). Default: 1
	// minute.
	IdleTimeout time.Duration
	// Connections is how many connections the Notifier keeps open at most;
	// each carries one message at a time, and Notify waits for a free one.
	// Default: 1. At most 64.
	Connections int
	// MaxMessagesPerConnection closes a connection after that many messages
	// and opens a new one (servers limit messages per session). Default:
	// 100.
	MaxMessagesPerConnection int
}

// fieldErrs collects the invalid fields of a Config.
type fieldErrs []invite.FieldError

func (fe *fieldErrs) add(field, code, reason string) {
	*fe = append(*fe, invite.FieldError{Field: field, Code: code, Reason: reason})
}

func (fe fieldErrs) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &invite.ValidationError{Fields: fe}
}

// settings is a validated Config with its defaults and parsed values.
type settings struct {
	Config
	from, replyTo *mail.Address
	envelopeFrom  string
	unsubscribe   []string
	tlsConfig     *tls.Config
}

// validate checks c and fills its defaults. Every problem is a field of
// the returned *invite.ValidationError.
func validate(c Config) (*settings, error) {
	var fe fieldErrs
	s := &settings{Config: c}
	switch {
	case c.Host == "":
		fe.add("Host", invite.CodeRequired, "is required")
	case !validHost(c.Host):
		fe.add("Host", invite.CodeInvalidFormat, "is not a host name or an IP address")
	}
	switch c.TLS {
	case StartTLS, StartTLSOpportunistic:
		defInt(&s.Port, 587)
	case ImplicitTLS:
		defInt(&s.Port, 465)
	case NoTLS:
		defInt(&s.Port, 25)
		if c.Host != "" && !isLoopback(c.Host) {
			fe.add("TLS", invite.CodeNotAllowed, "NoTLS is allowed only for a loopback Host")
		}
	default:
		fe.add("TLS", invite.CodeUnknown, "is not a TLS mode")
	}
	if s.Port < 1 || s.Port > 65535 {
		fe.add("Port", invite.CodeOutOfRange, "must be 1 to 65535")
	}
	if c.HELO != "" && !validHost(strings.Trim(c.HELO, "[]")) {
		fe.add("HELO", invite.CodeInvalidFormat, "is not a host name or an address literal")
	}
	if c.Username == "" && c.Password != "" {
		fe.add("Username", invite.CodeRequired, "is required with a Password")
	}
	if hasControl(c.Username) || hasControl(c.Password) {
		fe.add("Username", invite.CodeInvalidFormat, "Username or Password contains control characters")
	}
	if c.AuthMechanisms == nil {
		s.AuthMechanisms = DefaultAuthMechanisms
	}
	if len(s.AuthMechanisms) == 0 {
		fe.add("AuthMechanisms", invite.CodeRequired, "is empty")
	}
	for i, m := range s.AuthMechanisms {
		if !slices.Contains(DefaultAuthMechanisms, m) {
			fe.add("AuthMechanisms["+strconv.Itoa(i)+"]", invite.CodeUnknown, "is not one of PLAIN, LOGIN, CRAM-MD5")
		}
	}
	s.AuthMechanisms = slices.Clone(s.AuthMechanisms)

	var err error
	if c.From == "" {
		fe.add("From", invite.CodeRequired, "is required")
	} else if s.from, err = parseAddress(c.From); err != nil {
		fe.add("From", invite.CodeInvalidFormat, err.Error())
	}
	if c.ReplyTo != "" {
		if s.replyTo, err = parseAddress(c.ReplyTo); err != nil {
			fe.add("ReplyTo", invite.CodeInvalidFormat, err.Error())
		}
	}
	if c.EnvelopeFrom != "" {
		a, err := parseAddress(c.EnvelopeFrom)
		if err != nil {
			fe.add("EnvelopeFrom", invite.CodeInvalidFormat, err.Error())
		} else {
			s.envelopeFrom = a.Address
		}
	} else if s.from != nil {
		s.envelopeFrom = s.from.Address
	}
	s.checkUnsubscribe(&fe)
	if c.MessageIDDomain == "" && s.from != nil {
		s.MessageIDDomain = s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	}
	if s.MessageIDDomain != "" && !validHost(s.MessageIDDomain) {
		fe.add("MessageIDDomain", invite.CodeInvalidFormat, "is not a domain name")
	}
	if c.Renderer == nil {
		fe.add("Renderer", invite.CodeRequired, "is required")
	}
	if c.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	defDur(&fe, &s.ConnectTimeout, 15*time.Second, "ConnectTimeout")
	defDur(&fe, &s.SendTimeout, 30*time.Second, "SendTimeout")
	defDur(&fe, &s.IdleTimeout, time.Minute, "IdleTimeout")
	defInt(&s.Connections, 1)
	if s.Connections < 1 || s.Connections > 64 {
		fe.add("Connections", invite.CodeOutOfRange, "must be 1 to 64")
	}
	defInt(&s.MaxMessagesPerConnection, 100)
	if s.MaxMessagesPerConnection < 1 {
		fe.add("MaxMessagesPerConnection", invite.CodeOutOfRange, "must be positive")
	}

	if c.TLSConfig != nil {
		s.tlsConfig = c.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = c.Host
	}
	if s.tlsConfig.MinVersion == 0 {
		s.tlsConfig.MinVersion = tls.VersionTLS12
	}
	if s.tlsConfig.InsecureSkipVerify && c.TLS != NoTLS && !isLoopback(c.Host) {
		fe.add("TLSConfig", invite.CodeNotAllowed, "InsecureSkipVerify is allowed only for a loopback Host")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkUnsubscribe validates the List-Unsubscribe settings and builds the
// header's URIs.
func (s *settings) checkUnsubscribe(fe *fieldErrs) {
	lu := s.ListUnsubscribe
	if lu.URL != "" {
		u, err := url.Parse(lu.URL)
		switch {
		case err != nil || hasControl(lu.URL) || strings.ContainsAny(lu.URL, " <>,") || !u.IsAbs() || u.Host == "":
			fe.add("ListUnsubscribe.URL", invite.CodeInvalidFormat, "is not an absolute URL without spaces, '<', '>' or ','")
		case u.Scheme == "https", u.Scheme == "http" && isLoopback(u.Hostname()) && !lu.OneClick:
			s.unsubscribe = append(s.unsubscribe, u.String())
		default:
			fe.add("ListUnsubscribe.URL", invite.CodeInvalidFormat, "must use https (http only for a loopback host, without OneClick)")
		}
	} else if lu.OneClick {
		fe.add("ListUnsubscribe.URL", invite.CodeRequired, "is required with OneClick")
	}
	if lu.Mailto != "" {
		a, err := mail.ParseAddress(lu.Mailto)
		if err != nil || a.Name != "" || a.Address != lu.Mailto || strings.ContainsAny(a.Address, " <>,?&") {
			fe.add("ListUnsubscribe.Mailto", invite.CodeInvalidFormat, "is not a plain email address")
		} else {
			s.unsubscribe = append(s.unsubscribe, "mailto:"+a.Address)
		}
	}
}

// parseAddress parses an address header value: one address, with an
// optional display name free of control characters.
func parseAddress(s string) (*mail.Address, error) {
	if hasControl(s) {
		return nil, errString("contains control characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, errString("is not an email address, with or without a display name")
	}
	if hasControl(a.Name) || hasControl(a.Address) || strings.ContainsAny(a.Address, " <>") {
		return nil, errString("contains control characters")
	}
	if b, err := mail.ParseAddress(a.String()); err != nil || *b != *a {
		// net/mail writes some names (a backslash beside a non-ASCII
		// letter) in a form no reader accepts.
		return nil, errString("has a display name that cannot be written in a header as it is")
	}
	return a, nil
}

type errString string

func (e errString) Error() string { return string(e) }

func defInt(n *int, v int) {
	if *n == 0 {
		*n = v
	}
}

func defDur(fe *fieldErrs, d *time.Duration, v time.Duration, field string) {
	if *d == 0 {
		*d = v
	}
	if *d < 0 {
		fe.add(field, invite.CodeOutOfRange, "must be positive")
	}
}

// validHost accepts a host name (letters, digits, '-', '.', '_') or an IP
// address.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c == '.' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hasControl reports whether s holds a control character (C0, DEL, C1,
// or a Unicode line or paragraph separator) or is not valid UTF-8.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, isControl) >= 0
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}
