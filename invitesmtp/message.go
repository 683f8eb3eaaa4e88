package invitesmtp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/invitekit/invite"
)

// Renderer turns a message into an email: its subject, HTML body and
// plain-text body. A render error is permanent (the message is
// dead-lettered at once: no retry can fix a template). The Notifier
// removes control characters from the subject and encodes it; the bodies
// are sent as they are. An *invitetmpl.Renderer is one.
type Renderer interface {
	RenderEmail(msg invite.Message) (subject, html, text string, err error)
}

// maxSubject bounds the subject, in bytes, after sanitising.
const maxSubject = 998

// MessageID returns the Message-ID header value of msg:
// "<invite.ID.L@domain>", where ID is msg.ID when it is made only of ASCII
// letters, digits, '-', '.' and '_' (64 bytes at most), else the hex
// SHA-256 of msg.ID; L tells the message's link and code apart from those
// of another attempt (16 hex digits of an HMAC keyed with a random key of
// this Notifier, which says nothing of the link); and domain is
// Config.MessageIDDomain.
//
// Every attempt at one delivery carries msg.ID, but a retried delivery
// carries a new link (the dispatcher mints a fresh secret): mail systems
// that drop a second message with a Message-ID they have seen would keep
// the first copy, whose link a lost acknowledgement left behind, and hide
// the one that works. So two different links never share a Message-ID,
// and the same link (the same attempt) always has the same one.
func (n *Notifier) MessageID(msg invite.Message) string {
	mac := hmac.New(sha256.New, n.idKey[:])
	mac.Write([]byte(msg.Vars.InviteLink.Reveal()))
	mac.Write([]byte{0})
	mac.Write([]byte(msg.Vars.Code.Reveal()))
	return "<" + messageIDLocal(msg.ID) + "." + hex.EncodeToString(mac.Sum(nil)[:8]) + "@" + n.s.MessageIDDomain + ">"
}

func messageIDLocal(id string) string {
	ok := id != "" && len(id) <= 64 && !strings.HasPrefix(id, ".") && !strings.HasSuffix(id, ".") && !strings.Contains(id, "..")
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c == '-' || c == '.' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if !ok {
		sum := sha256.Sum256([]byte(id))
		id = hex.EncodeToString(sum[:])
	}
	return "invite." + id
}

// build renders msg and returns the email to send. Every error is
// permanent.
func (n *Notifier) build(msg invite.Message, now time.Time, r redactor) (*gomail.Msg, error) {
	if msg.Channel != invite.ChannelEmail {
		return nil, invite.Permanent(errors.New("invitesmtp: the message's channel is " + quoteChannel(msg.Channel) + ", not email"))
	}
	to, err := mail.ParseAddress(msg.To)
	if err != nil || to.Name != "" || to.Address != msg.To || hasControl(msg.To) || strings.ContainsAny(msg.To, " <>") {
		return nil, invite.Permanent(errors.New("invitesmtp: the message's To is not a plain email address"))
	}
	to.Name = displayName(msg.Vars.Name)

	subject, html, text, err := n.s.Renderer.RenderEmail(msg)
	if err != nil {
		return nil, invite.Permanent(&RenderError{err: err, text: r.clean(err.Error())})
	}
	subject = headerText(subject, maxSubject)
	if subject == "" {
		return nil, invite.Permanent(&RenderError{text: "the subject is empty"})
	}
	if text == "" && html == "" {
		return nil, invite.Permanent(&RenderError{text: "both bodies are empty"})
	}

	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(n.s.from)
	if err := m.EnvelopeFrom(n.s.envelopeFrom); err != nil {
		return nil, invite.Permanent(err)
	}
	m.ToMailAddress(to)
	if n.s.replyTo != nil {
		m.ReplyToMailAddress(n.s.replyTo)
	}
	m.Subject(subjectHeader(subject))
	m.SetMessageIDWithValue(strings.Trim(n.MessageID(msg), "<>"))
	m.SetDateWithValue(now)
	if len(n.s.unsubscribe) > 0 {
		m.SetListUnsubscribe(n.s.unsubscribe...)
		if n.s.ListUnsubscribe.OneClick {
			m.SetListUnsubscribePost()
		}
	}
	switch {
	case text != "" && html != "":
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
	case text != "":
		m.SetBodyString(gomail.TypeTextPlain, text)
	default:
		m.SetBodyString(gomail.TypeTextHTML, html)
	}
	return m, nil
}

// headerText makes s fit for a header: every control character, line or
// paragraph separator, other space and invalid byte becomes a space, runs
// of spaces become one, and the result is trimmed and cut to max bytes (on a rune
// boundary). The header writer then encodes what is not printable ASCII as
// encoded words, so no value can start a header line of its own.
func headerText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, " ") {
		if isControl(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		sep := space && b.Len() > 0
		space = false
		if n := b.Len() + utf8.RuneLen(r); n > max || sep && n+1 > max {
			break
		}
		if sep {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// displayName returns the invitee's name for the To header, sanitised as
// headerText does. In a name the header writer will encode (one holding
// a non-ASCII character), a backslash becomes U+FF3C FULLWIDTH REVERSE
// SOLIDUS: net/mail writes a backslash into such an encoded word as it
// is, which is not allowed there, and readers (Go's own among them) then
// refuse the whole To header.
func displayName(s string) string {
	s = headerText(s, 200)
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return headerText(strings.ReplaceAll(s, `\`, "\uFF3C"), 200) // cut again: it is longer
		}
	}
	return s
}

// subjectHeader returns s for the Subject header. A subject holding "=?",
// which a reader would decode as an encoded word (even into a line break),
// is encoded whole, in base64 words of at most 30 bytes, so that it reads
// back as the text it is.
func subjectHeader(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var words []string
	for s != "" {
		n := min(len(s), 30)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?UTF-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

func quoteChannel(c invite.Channel) string {
	return "\"" + headerText(string(c), 32) + "\""
}

// RenderError is a failure of the Renderer, or an email without a subject
// or without a body. Notify returns it marked permanent. Its text has the
// message's link and code removed.
type RenderError struct {
	err  error
	text string
}

func (e *RenderError) Error() string { return "invitesmtp: rendering the email: " + e.text }

// Unwrap returns the Renderer's error (nil for an empty subject or body).
func (e *RenderError) Unwrap() error { return e.err }
