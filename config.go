package invite

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"text/template"
	"time"
)

// Config configures a Manager. Every field is optional; the comment on each
// gives its default. New validates the whole Config up front.
type Config struct {
	// Now returns the current time. Default: time.Now. The Manager truncates
	// what it returns to microseconds, in UTC.
	Now func() time.Time
	// Logger receives operational logs (never a secret). Default: discard.
	Logger *slog.Logger
	// Notifier delivers messages. Default: nil, in which case only
	// DeliveryReturn is accepted. With a Store that implements Outbox,
	// Create and Resend queue each message with the write and make one
	// attempt right after it commits; a Dispatcher delivers what that
	// attempt did not (see Dispatcher).
	Notifier Notifier
	// EventSink receives every event. Default: nil, and no events are
	// built. With a Store that implements Outbox, events are queued with
	// the write that causes them and a Dispatcher publishes them, at least
	// once; with any other Store, the Manager publishes them right after
	// the write returns, at most once. Set the same EventSink in every
	// process that writes, whether it runs a Dispatcher or not: a Manager
	// without one queues no events.
	EventSink EventSink
	// InlineDeliveryTimeout bounds the attempt Create and Resend make to
	// deliver a message right after their write commits. A queued message
	// becomes due to a Dispatcher twice this long after it was queued, so
	// that the two do not both send it. Default: 30 seconds.
	InlineDeliveryTimeout time.Duration

	// TokenPrefix starts every link token: 1 to 16 characters from [A-Za-z0-9_].
	// Default: DefaultTokenPrefix ("inv_").
	TokenPrefix string
	// LinkTemplate is a text/template rendered with LinkData into the
	// invitation link, for invitations without their own. Default: "" (the
	// link is the invitation's RedirectURI plus the token as the query
	// parameter LinkTokenParam).
	LinkTemplate string
	// LinkTokenParam names the token's query parameter when the link is
	// built from RedirectURI. Default: "token".
	LinkTokenParam string
	// LinkHosts, when set, are the only hosts an invitation link (from a
	// link template or a RedirectURI) may point to: exact host names,
	// compared case-insensitively, or "*.example.com" for the subdomains
	// of example.com; with LinkHosts set, a link must name its host plainly
	// (no explicit port, no IP zone). Default: nil, any host. Either way a
	// link must be an absolute https URL (http only for localhost); any
	// other is a *ValidationError before anything is stored, and so is a
	// LinkTemplate or RedirectURI given to Create, Upsert or Update that
	// would make one.
	LinkHosts []string

	// DefaultExpiry is an invitation's validity when the input gives none.
	// Default: 7 days.
	DefaultExpiry time.Duration
	// MinExpiry and MaxExpiry bound the validity a caller may ask for.
	// Defaults: 1 hour and 90 days.
	MinExpiry time.Duration
	MaxExpiry time.Duration

	// TemplateKeys are the message template keys callers may name; any
	// other is ErrUnknownTemplate at Create. Default: {"invite"}.
	TemplateKeys []string
	// DefaultTemplateKey is used when the input names none. Default:
	// TemplateKeys[0].
	DefaultTemplateKey string

	// EmailDomainToASCII, when set, converts an email domain written
	// outside ASCII to its ASCII form before the address is checked, for
	// hosts that invite people at internationalised domains: pass
	// idna.Lookup.ToASCII of golang.org/x/net/idna, which maps the domain
	// the way mail systems do (UTS 46). An error refuses the address. The
	// local part must be ASCII either way. Default: nil, and an address
	// outside ASCII is refused.
	EmailDomainToASCII func(domain string) (string, error)
	// NormalizePhone turns a phone number as a person typed it (at most
	// MaxPhoneLen characters: "0151 2345678", "(030) 1234-567") into its
	// E.164 form ("+4915123456789"), or returns an error that refuses it.
	// What it returns must itself be E.164 (the package function
	// NormalizePhone's rules), or the number is refused. It is used for
	// Invitee.Phone and for the Phone filter of List. Default: nil, and
	// only numbers written with an international prefix ("+" or "00") are
	// taken (NormalizePhone). Package invitephone builds one on
	// libphonenumber's numbering plans, with a default region.
	NormalizePhone func(phone string) (string, error)
	// RequireNames makes GivenName and FamilyName required on Create and
	// Upsert: 1 to MaxNameLen characters each, not blank. Default: false.
	RequireNames bool

	// RequireEmailMatch binds every acceptance of an invitation with an
	// email to that email. Default: false (per invitation with
	// CreateInput.RequireEmailMatch).
	RequireEmailMatch bool
	// KeepPreviousTokens keeps the tokens replaced by Resend valid until
	// their own expiry (at most MaxPreviousTokens of them). Default: false,
	// the old token stops working at once.
	KeepPreviousTokens bool

	// CodeLength is the length of short codes, 6 to 16. Default: 8 (40 bits).
	CodeLength int
	// CodeMaxAttempts is the number of failed code attempts after which the
	// code is dead. Default: 5.
	CodeMaxAttempts int
	// CodeHashParams are the argon2id costs for short codes. Default:
	// DefaultCodeHashParams.
	CodeHashParams CodeHashParams
	// CodeCheckConcurrency bounds how many short-code checks (argon2id
	// hashes, each taking CodeHashParams.MemoryKiB of memory) run at once
	// in this Manager; the others wait, or give up when their context
	// ends. Default: as many as fit in 256 MiB (13 at the default
	// parameters), at least 1 and at most 1,024.
	CodeCheckConcurrency int

	// MaxDataBytes bounds an invitation's variable-size content: roles,
	// groups, pre-filled data and metadata together, as JSON (every other
	// field has a small bound of its own). Default: 64 KiB.
	MaxDataBytes int

	// MaxOpenPerInviter limits the open (pending or sent, unexpired)
	// invitations one inviter (Inviter.ID) may hold in a tenant: a Create
	// beyond it is refused with a *QuotaError (ErrQuotaExceeded) and
	// nothing is created; CreateInput.InviterLimit overrides it per call.
	// Invitations without an Inviter.ID are not limited, and one that
	// replaces the inviter's own open invitation of the same invitee
	// (Supersede) takes no more of the limit. The store must enforce it
	// atomically (OpenLimiter: memstore and sqlstore do). Default: 0, no
	// limit.
	MaxOpenPerInviter int
}

// codeCheckBudgetKiB is the memory CodeCheckConcurrency's default lets
// concurrent code checks take.
const codeCheckBudgetKiB = 256 << 10

// maxCodeCheckConcurrency bounds CodeCheckConcurrency.
const maxCodeCheckConcurrency = 1024

// MaxPreviousTokens bounds how many replaced tokens Config.KeepPreviousTokens keeps.
const MaxPreviousTokens = 10

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// withDefaults fills defaults and validates; the template is parsed once.
func (c Config) withDefaults() (Config, *template.Template, error) {
	var fe fieldErrs
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.TokenPrefix == "" {
		c.TokenPrefix = DefaultTokenPrefix
	}
	if len(c.TokenPrefix) > maxTokenPrefixLen || !validPrefix(c.TokenPrefix) {
		fe.add("TokenPrefix", tokenPrefixRule)
	}
	c.LinkHosts = slices.Clone(c.LinkHosts)
	for i, h := range c.LinkHosts {
		if !validHostPattern(h) {
			fe.add("LinkHosts["+itoa(i)+"]", "is not a host name or *.host.name")
		}
	}
	var link *template.Template
	if c.LinkTemplate != "" {
		var err error
		if link, err = parseLinkTemplate(c.LinkTemplate); err != nil {
			fe.add("LinkTemplate", "does not parse: "+err.Error())
		} else if reason := linkProblem(renderSample(link), c.LinkHosts); reason != "" {
			fe.add("LinkTemplate", "renders a link that "+reason)
		}
	}
	if c.InlineDeliveryTimeout == 0 {
		c.InlineDeliveryTimeout = 30 * time.Second
	}
	if c.InlineDeliveryTimeout < 0 {
		fe.add("InlineDeliveryTimeout", "must not be negative")
	}
	if c.LinkTokenParam == "" {
		c.LinkTokenParam = "token"
	}
	if c.DefaultExpiry == 0 {
		c.DefaultExpiry = 7 * 24 * time.Hour
	}
	if c.MinExpiry == 0 {
		c.MinExpiry = time.Hour
	}
	if c.MaxExpiry == 0 {
		c.MaxExpiry = 90 * 24 * time.Hour
	}
	if c.MinExpiry < 0 {
		fe.add("MinExpiry", "must not be negative")
	} else if c.MaxExpiry < c.MinExpiry {
		fe.add("MaxExpiry", "must not be below MinExpiry")
	}
	if c.DefaultExpiry < c.MinExpiry || c.DefaultExpiry > c.MaxExpiry {
		fe.add("DefaultExpiry", "must lie within MinExpiry..MaxExpiry")
	}
	if len(c.TemplateKeys) == 0 {
		c.TemplateKeys = []string{"invite"}
	}
	c.TemplateKeys = slices.Clone(c.TemplateKeys)
	for i, k := range c.TemplateKeys {
		fe.checkText("TemplateKeys["+itoa(i)+"]", k, MaxIDLen, true)
	}
	if c.DefaultTemplateKey == "" {
		c.DefaultTemplateKey = c.TemplateKeys[0]
	}
	if !slices.Contains(c.TemplateKeys, c.DefaultTemplateKey) {
		fe.addErr("DefaultTemplateKey", "is not one of TemplateKeys", ErrUnknownTemplate)
	}
	if c.CodeLength == 0 {
		c.CodeLength = 8
	}
	if c.CodeLength < minCodeLength || c.CodeLength > maxCodeLength {
		fe.add("CodeLength", codeLengthRule)
	}
	if c.CodeMaxAttempts == 0 {
		c.CodeMaxAttempts = 5
	}
	if c.CodeMaxAttempts < 1 || c.CodeMaxAttempts > 100 {
		fe.add("CodeMaxAttempts", "must be 1 to 100")
	}
	if c.CodeHashParams == (CodeHashParams{}) {
		c.CodeHashParams = DefaultCodeHashParams
	}
	if c.CodeCheckConcurrency == 0 {
		c.CodeCheckConcurrency = min(maxCodeCheckConcurrency, max(1, int(codeCheckBudgetKiB/max(1, c.CodeHashParams.MemoryKiB))))
	}
	if c.CodeCheckConcurrency < 1 || c.CodeCheckConcurrency > maxCodeCheckConcurrency {
		fe.add("CodeCheckConcurrency", "must be 1 to "+itoa(maxCodeCheckConcurrency))
	}
	if !c.CodeHashParams.valid() {
		fe.add("CodeHashParams", codeHashParamsRule)
	}
	if c.MaxDataBytes == 0 {
		c.MaxDataBytes = 64 << 10
	}
	if c.MaxOpenPerInviter < 0 {
		fe.add("MaxOpenPerInviter", "must not be negative")
	}
	if c.MaxDataBytes < 0 {
		fe.add("MaxDataBytes", "must not be negative")
	}
	if err := fe.err(); err != nil {
		return c, nil, err
	}
	return c, link, nil
}

func validPrefix(p string) bool {
	for i := 0; i < len(p); i++ {
		if base62Index[p[i]] == 0xFF && p[i] != '_' {
			return false
		}
	}
	return p != ""
}

var errNilStore = errors.New("invite: New: store is nil")
