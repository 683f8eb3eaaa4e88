package invitetmpl

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"golang.org/x/text/language"

	"github.com/invitekit/invite"
)

//go:embed all:templates
var defaults embed.FS

// Defaults returns the embedded default templates (key "invite" in
// English, German and Arabic, with resend variants), laid out as Register
// reads them: a starting point to copy.
func Defaults() fs.FS {
	sub, _ := fs.Sub(defaults, "templates")
	return sub
}

// DefaultKey is the template key of the default templates, and the key
// used for a message that names none.
const DefaultKey = "invite"

// DefaultMaxSMSSegments is Config.MaxSMSSegments when it is zero.
const DefaultMaxSMSSegments = 4

// Config configures a Renderer. The zero Config is usable: English as the
// default language, the default templates, UTC times.
type Config struct {
	// DefaultLanguage is the last step of every fallback chain: a message
	// whose locale matches none of a key's languages is rendered in it.
	// Default: English.
	DefaultLanguage language.Tag
	// Variables are the names of the host's own template variables, the
	// keys of invite.CreateInput.Variables that templates may name (as
	// {{.plan}}). A template naming a variable that is neither built in
	// nor listed here is refused by Register. A listed variable that an
	// invitation does not set renders as "".
	Variables []string
	// MaxSMSSegments refuses an SMS body needing more segments
	// (*SegmentsError). Default: DefaultMaxSMSSegments; -1 for no limit.
	MaxSMSSegments int
	// Location is the time zone expires_at is written in. Default: UTC.
	Location *time.Location
	// FormatTime writes expires_at for the language the message is
	// rendered in. Default: the package's FormatTime in Location.
	FormatTime func(t time.Time, lang language.Tag) string
	// NoDefaults leaves out the default templates: only what the host
	// registers is rendered.
	NoDefaults bool
}

// Renderer renders invitation messages from templates chosen by key,
// channel and language. It is safe for concurrent use, Register included:
// a rendering sees the templates from before or after a Register, never a
// mix.
type Renderer struct {
	cfg   Config
	known map[string]bool
	mu    sync.Mutex // serialises Register
	set   atomic.Pointer[snapshot]
}

// New returns a Renderer with the default templates (unless
// cfg.NoDefaults). A bad MaxSMSSegments or Variables entry is a field of
// the returned *invite.ValidationError ("MaxSMSSegments",
// "Variables[2]"), every one of them listed.
func New(cfg Config) (*Renderer, error) {
	if cfg.DefaultLanguage == (language.Tag{}) {
		cfg.DefaultLanguage = language.English
	}
	if cfg.MaxSMSSegments == 0 {
		cfg.MaxSMSSegments = DefaultMaxSMSSegments
	}
	var fields []invite.FieldError
	if cfg.MaxSMSSegments < -1 {
		fields = append(fields, invite.FieldError{Field: "MaxSMSSegments", Code: invite.CodeOutOfRange,
			Reason: "must be positive, 0 for the default or -1 for no limit"})
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.FormatTime == nil {
		loc := cfg.Location
		cfg.FormatTime = func(t time.Time, lang language.Tag) string { return FormatTime(t, loc, lang) }
	}
	r := &Renderer{cfg: cfg, known: make(map[string]bool)}
	for _, v := range builtinVars {
		r.known[v] = true
	}
	declared := make(map[string]int, len(cfg.Variables))
	for i, v := range cfg.Variables {
		field := "Variables[" + strconv.Itoa(i) + "]"
		j, twice := declared[v]
		switch {
		case !validVarName(v):
			fields = append(fields, invite.FieldError{Field: field, Code: invite.CodeInvalidFormat,
				Reason: fmt.Sprintf("%q is not a variable name (lower-case letters, digits and underscores, starting with a letter, at most 64)", v)})
		case twice:
			fields = append(fields, invite.FieldError{Field: field, Code: invite.CodeConflict,
				Reason: fmt.Sprintf("%q is declared again (first at Variables[%d])", v, j)})
		case r.known[v]:
			fields = append(fields, invite.FieldError{Field: field, Code: invite.CodeNotAllowed,
				Reason: fmt.Sprintf("%q is a built-in variable", v)})
		default:
			declared[v] = i
			r.known[v] = true
		}
	}
	if len(fields) > 0 {
		return nil, &invite.ValidationError{Fields: fields}
	}
	r.set.Store(&snapshot{keys: map[string]map[string]*langSet{}})
	if !cfg.NoDefaults {
		if err := r.Register(Defaults()); err != nil {
			return nil, fmt.Errorf("invitetmpl: the default templates: %w", err)
		}
	}
	return r, nil
}

// Keys returns the registered template keys, sorted: what a host passes
// as invite.Config.TemplateKeys so that Create refuses a key no template
// exists for.
func (r *Renderer) Keys() []string {
	return slices.Sorted(maps.Keys(r.set.Load().keys))
}

// Languages returns the languages key has a template for on channel
// (invite.ChannelEmail or invite.ChannelSMS), the default language first
// when it is one of them.
func (r *Renderer) Languages(key string, ch invite.Channel) []language.Tag {
	m := r.set.Load().matcher(key, partOf(ch))
	if m == nil {
		return nil
	}
	return slices.Clone(m.tags)
}

// RenderEmail renders msg as an email: its subject (one line), HTML body
// and plain-text body, from the templates of msg.TemplateKey (DefaultKey
// when empty) in the language that best matches msg.Locale, with the
// resend variant when msg.Resend and the language has one. Every value is
// escaped for HTML in the HTML body. The error is a *NoTemplateError or
// matches ErrRender; it never holds the link or the code.
func (r *Renderer) RenderEmail(msg invite.Message) (subject, html, text string, err error) {
	ls, tag, err := r.pick(msg, channelEmail)
	if err != nil {
		return "", "", "", err
	}
	e := ls.email[0]
	if msg.Resend && ls.email[1] != nil {
		e = ls.email[1]
	}
	data := r.data(msg, tag)
	var b strings.Builder
	if err := e.subject.Execute(&b, data); err != nil {
		return "", "", "", renderError(e.subject.Name(), err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := e.html.Execute(&b, data); err != nil {
		return "", "", "", renderError(e.html.Name(), err)
	}
	html = strings.TrimSpace(b.String()) + "\n"
	b.Reset()
	if err := e.text.Execute(&b, data); err != nil {
		return "", "", "", renderError(e.text.Name(), err)
	}
	text = strings.TrimSpace(b.String()) + "\n"
	return subject, html, text, nil
}

// RenderSMS renders msg as a text message (leading and trailing white
// space removed), chosen as RenderEmail chooses, and measures it. A body
// needing more than Config.MaxSMSSegments segments is a *SegmentsError.
func (r *Renderer) RenderSMS(msg invite.Message) (SMS, error) {
	ls, tag, err := r.pick(msg, channelSMS)
	if err != nil {
		return SMS{}, err
	}
	t := ls.sms[0]
	if msg.Resend && ls.sms[1] != nil {
		t = ls.sms[1]
	}
	var b strings.Builder
	if err := t.Execute(&b, r.data(msg, tag)); err != nil {
		return SMS{}, renderError(t.Name(), err)
	}
	s := Measure(strings.TrimSpace(b.String()))
	if r.cfg.MaxSMSSegments > 0 && s.Segments > r.cfg.MaxSMSSegments {
		return SMS{}, &SegmentsError{Segments: s.Segments, Max: r.cfg.MaxSMSSegments, Encoding: s.Encoding}
	}
	return s, nil
}

func renderError(name string, err error) error {
	// The executor's errors name the template and the node, never a value.
	return fmt.Errorf("%w: %s: %v", ErrRender, name, err)
}

// pick finds the language set for msg's key on a channel, and the
// language it is in.
func (r *Renderer) pick(msg invite.Message, p part) (*langSet, language.Tag, error) {
	key := msg.TemplateKey
	if key == "" {
		key = DefaultKey
	}
	s := r.set.Load()
	m := s.matcher(key, p)
	missing := &NoTemplateError{Key: key, Channel: p.channel(), Locale: msg.Locale}
	if m == nil {
		return nil, language.Tag{}, missing
	}
	i := -1
	if want, err := language.Parse(msg.Locale); err == nil && msg.Locale != "" {
		if _, j, conf := m.m.Match(want); conf != language.No {
			i = j
		}
	}
	if i < 0 && m.hasDefault {
		i = 0
	} else if i < 0 {
		// The default language's template may be a regional one (en-US
		// for English) or the reverse.
		if _, j, conf := m.m.Match(r.cfg.DefaultLanguage); conf != language.No {
			i = j
		} else {
			return nil, language.Tag{}, missing
		}
	}
	tag := m.tags[i]
	return s.keys[key][tag.String()], tag, nil
}

// data is the template data of msg rendered in lang: every built-in
// variable, expires_at written for lang, and every declared custom
// variable ("" when the invitation does not set it).
func (r *Renderer) data(msg invite.Message, lang language.Tag) map[string]string {
	all := msg.Vars.Map()
	d := make(map[string]string, len(r.known))
	for k := range r.known {
		d[k] = all[k]
	}
	d["expires_at"] = ""
	if !msg.Vars.ExpiresAt.IsZero() {
		d["expires_at"] = r.cfg.FormatTime(msg.Vars.ExpiresAt, lang)
	}
	return d
}

// part is a channel's set of template files.
type part int

const (
	channelEmail part = iota
	channelSMS
)

func partOf(ch invite.Channel) part {
	if ch == invite.ChannelSMS {
		return channelSMS
	}
	return channelEmail
}

func (p part) channel() invite.Channel {
	if p == channelSMS {
		return invite.ChannelSMS
	}
	return invite.ChannelEmail
}

// emailSet is the three parts of an email.
type emailSet struct {
	subject, text *template.Template
	html          *htmltemplate.Template
}

// langSet is one key's templates in one language: index 0 for a first
// delivery, 1 for the resend variant (nil when there is none).
type langSet struct {
	email [2]*emailSet
	sms   [2]*template.Template
}

// matcher picks among the languages one key has templates for on one
// channel; tags[0] is the default language when hasDefault.
type matcher struct {
	tags       []language.Tag
	m          language.Matcher
	hasDefault bool
}

// snapshot is an immutable set of registered templates: key -> canonical
// language tag -> templates, and the matchers built from them.
type snapshot struct {
	keys     map[string]map[string]*langSet
	matchers map[string][2]*matcher
}

func (s *snapshot) matcher(key string, p part) *matcher {
	return s.matchers[key][p]
}

// build makes the matchers of s.
func (s *snapshot) build(def language.Tag) {
	s.matchers = make(map[string][2]*matcher, len(s.keys))
	for key, langs := range s.keys {
		var ms [2]*matcher
		for _, p := range []part{channelEmail, channelSMS} {
			var tags []language.Tag
			hasDefault := false
			for _, name := range slices.Sorted(maps.Keys(langs)) {
				ls := langs[name]
				if (p == channelEmail && ls.email[0] == nil) || (p == channelSMS && ls.sms[0] == nil) {
					continue
				}
				tag := language.Make(name)
				if tag == def {
					hasDefault = true
					tags = slices.Insert(tags, 0, tag)
				} else {
					tags = append(tags, tag)
				}
			}
			if len(tags) > 0 {
				ms[p] = &matcher{tags: tags, m: language.NewMatcher(tags), hasDefault: hasDefault}
			}
		}
		s.matchers[key] = ms
	}
}
