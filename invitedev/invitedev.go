// Package invitedev is a Notifier for local development: it renders each
// invitation message and writes it, link and code included, to a
// *slog.Logger and, optionally, to a folder as .eml files that a mail
// client opens.
//
// NEVER USE IT IN PRODUCTION. It sends nothing, and it writes every
// invitation's secret link and code in plaintext to the log and to disk:
// anyone who reads either can accept the invitation. It exists so that a
// developer can follow an invitation's link without a mail server, and
// see how a message renders.
//
//	dev, err := invitedev.New(invitedev.Config{Dir: "tmp/mail"}) // default templates, slog.Default()
//	m, err := invite.New(store, invite.Config{Notifier: dev, ...})
//
// An email (and a message for an existing user id) is rendered with
// Renderer.RenderEmail and written as a multipart/alternative message
// (plain text and HTML); an SMS with Renderer.RenderSMS, written as a
// plain-text message addressed by name to the phone number (at the
// reserved address sms@invalid). A message that cannot be rendered (no
// template, an SMS over the segment limit) is an invite.Permanent error,
// as a real channel reports it.
package invitedev

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

// Renderer renders messages; *invitetmpl.Renderer is one.
type Renderer interface {
	RenderEmail(msg invite.Message) (subject, html, text string, err error)
	RenderSMS(msg invite.Message) (invitetmpl.SMS, error)
}

// Config configures a Notifier.
type Config struct {
	// Renderer renders the messages. Default: an invitetmpl.Renderer with
	// the default templates.
	Renderer Renderer
	// Logger receives one record per message, with the link and the code.
	// Default: slog.Default().
	Logger *slog.Logger
	// Dir, when set, receives each message as a .eml file (created with
	// its parents, readable by the owner only), named after the time and
	// the message id.
	Dir string
	// From is the From address of the .eml files. Default:
	// "Invitations <invitations@localhost>".
	From string
	// Now is the clock for the files' Date and names. Default: time.Now.
	Now func() time.Time
}

// Notifier is the development notifier; see the package doc.
type Notifier struct {
	cfg  Config
	from *mail.Address
}

var _ invite.Notifier = (*Notifier)(nil)

// New returns a Notifier on cfg. It creates cfg.Dir when set, once the
// rest of cfg is valid (a refused cfg creates nothing). A From that is not
// an address, or a Dir that cannot be created, is a field of the returned
// *invite.ValidationError ("From", "Dir"); the Dir's field error also
// matches the file system's error (fs.ErrPermission, ...).
func New(cfg Config) (*Notifier, error) {
	if cfg.Renderer == nil {
		r, err := invitetmpl.New(invitetmpl.Config{})
		if err != nil {
			return nil, err
		}
		cfg.Renderer = r
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.From == "" {
		cfg.From = "Invitations <invitations@localhost>"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var fields []invite.FieldError
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		fields = append(fields, invite.FieldError{Field: "From", Code: invite.CodeInvalidFormat,
			Reason: "is not an email address, with or without a display name", Err: err})
	}
	if cfg.Dir != "" {
		err := dirProblem(cfg.Dir) // a refused cfg creates nothing
		if err == nil && len(fields) == 0 {
			err = os.MkdirAll(cfg.Dir, 0o700)
		}
		if err != nil {
			fields = append(fields, invite.FieldError{Field: "Dir", Code: invite.CodeInvalid,
				Reason: "cannot be created: " + err.Error(), Err: err})
		}
	}
	if len(fields) > 0 {
		return nil, &invite.ValidationError{Fields: fields}
	}
	return &Notifier{cfg: cfg, from: from}, nil
}

// dirProblem tells, without creating anything, why dir could not be
// created that is certain beforehand: its nearest existing ancestor is not
// a directory, or cannot be looked at.
func dirProblem(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case filepath.Dir(d) == d:
			return nil
		}
	}
}

// Notify renders msg, logs it and, with Config.Dir, writes it as a .eml
// file. A rendering error is invite.Permanent.
func (n *Notifier) Notify(ctx context.Context, msg invite.Message) error {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(n.from)
	m.SetDateWithValue(n.cfg.Now())
	m.SetMessageIDWithValue(safeName(msg.ID) + "@invitedev.localhost")
	if msg.ID != "" {
		m.SetGenHeader("X-Invite-Message-ID", safeName(msg.ID))
	}
	if msg.InvitationID != "" {
		m.SetGenHeader("X-Invite-Invitation-ID", safeName(msg.InvitationID))
	}
	attrs := []any{"message_id", msg.ID, "tenant_id", msg.TenantID, "invitation_id", msg.InvitationID,
		"channel", string(msg.Channel), "to", msg.To, "template_key", msg.TemplateKey, "locale", msg.Locale,
		"resend", msg.Resend, "link", msg.Vars.InviteLink.Reveal(), "code", msg.Vars.Code.Reveal()}
	if msg.Channel == invite.ChannelSMS {
		sms, err := n.cfg.Renderer.RenderSMS(msg)
		if err != nil {
			return invite.Permanent(fmt.Errorf("invitedev: %w", err))
		}
		m.ToMailAddress(&mail.Address{Name: msg.To, Address: "sms@invalid"})
		m.Subject(fmt.Sprintf("SMS to %s (%s, %d segments)", msg.To, sms.Encoding, sms.Segments))
		m.SetBodyString(gomail.TypeTextPlain, sms.Body+"\n")
		attrs = append(attrs, "body", sms.Body, "encoding", string(sms.Encoding), "segments", sms.Segments)
	} else {
		subject, html, text, err := n.cfg.Renderer.RenderEmail(msg)
		if err != nil {
			return invite.Permanent(fmt.Errorf("invitedev: %w", err))
		}
		if msg.Channel == invite.ChannelEmail {
			if err := m.To(msg.To); err != nil {
				return invite.Permanent(fmt.Errorf("invitedev: the recipient is not an email address: %w", err))
			}
		} else {
			m.ToMailAddress(&mail.Address{Name: msg.To, Address: "user@invalid"})
		}
		m.Subject(subject)
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
		attrs = append(attrs, "subject", subject, "text", text)
	}
	if n.cfg.Dir != "" {
		path, err := n.write(m, msg)
		if err != nil {
			return err
		}
		attrs = append(attrs, "file", path)
	}
	n.cfg.Logger.InfoContext(ctx, "invitedev: message (development only: it holds the invitation's secret link)", attrs...)
	return nil
}

// write writes m as a .eml file in Dir, under a temporary name first, so
// that a client watching the folder never opens half a file.
func (n *Notifier) write(m *gomail.Msg, msg invite.Message) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("%s-%s-%x.eml", n.cfg.Now().UTC().Format("20060102T150405.000000Z"), safeName(msg.ID), rnd)
	f, err := os.CreateTemp(n.cfg.Dir, ".tmp-*.eml")
	if err != nil {
		return "", fmt.Errorf("invitedev: %w", err)
	}
	_, err = m.WriteTo(f)
	err = errors.Join(err, f.Close())
	path := filepath.Join(n.cfg.Dir, name)
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("invitedev: writing %s: %w", path, err)
	}
	return path, nil
}

// safeName keeps the letters, digits, '-' and '_' of s (at most 64), or
// "message" when none is left.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" {
		return "message"
	}
	return s
}
