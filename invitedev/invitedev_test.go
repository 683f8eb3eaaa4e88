package invitedev_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitedev"
	"github.com/invitekit/invite/invitetmpl"
)

const link = "https://app.example/invite?token=inv_devtoken&org=acme"

func message(ch invite.Channel, to, locale string) invite.Message {
	return invite.Message{
		ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", TenantID: "acme", InvitationID: "inv-1",
		Channel: ch, To: to, Locale: locale, TemplateKey: "invite",
		Vars: invite.Vars{Name: "Ada Lovelace", GivenName: "Ada", InvitedBy: "Grace", AccountName: "Acme",
			InviteLink: invite.NewSecret(link), ExpiresAt: time.Date(2027, 5, 3, 14, 0, 0, 0, time.UTC)},
	}
}

// newNotifier is a Notifier writing to a temporary folder and a JSON log
// in the returned buffer.
func newNotifier(t *testing.T, cfg invitedev.Config) (*invitedev.Notifier, *bytes.Buffer, string) {
	t.Helper()
	var log bytes.Buffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	cfg.Dir = filepath.Join(t.TempDir(), "mail")
	n, err := invitedev.New(cfg)
	require.NoError(t, err)
	return n, &log, cfg.Dir
}

// readEML reads the only .eml file in dir.
func readEML(t *testing.T, dir string) *mail.Message {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	info, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "it holds a secret")
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	m, err := mail.ReadMessage(bytes.NewReader(b))
	require.NoError(t, err)
	return m
}

// parts reads a multipart/alternative body into its parts by media type.
func parts(t *testing.T, m *mail.Message) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	out := map[string]string{}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		out[pt] = string(b)
	}
	return out
}

func TestEmailFile(t *testing.T) {
	for _, locale := range []string{"en", "de", "ar"} {
		t.Run(locale, func(t *testing.T) {
			n, log, dir := newNotifier(t, invitedev.Config{})
			msg := message(invite.ChannelEmail, "ada@example.com", locale)
			require.NoError(t, n.Notify(t.Context(), msg))

			r, err := invitetmpl.New(invitetmpl.Config{})
			require.NoError(t, err)
			subject, html, text, err := r.RenderEmail(msg)
			require.NoError(t, err)

			m := readEML(t, dir)
			var dec mime.WordDecoder
			gotSubject, err := dec.DecodeHeader(m.Header.Get("Subject"))
			require.NoError(t, err)
			assert.Equal(t, subject, gotSubject)
			to, err := m.Header.AddressList("To")
			require.NoError(t, err)
			assert.Equal(t, "ada@example.com", to[0].Address)
			from, err := m.Header.AddressList("From")
			require.NoError(t, err)
			assert.Equal(t, "invitations@localhost", from[0].Address)
			assert.Equal(t, "<0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@invitedev.localhost>", m.Header.Get("Message-ID"))
			assert.Equal(t, "inv-1", m.Header.Get("X-Invite-Invitation-ID"))
			_, err = m.Header.Date()
			require.NoError(t, err)

			p := parts(t, m)
			assert.Equal(t, text, strings.ReplaceAll(p["text/plain"], "\r\n", "\n"))
			assert.Equal(t, html, strings.ReplaceAll(p["text/html"], "\r\n", "\n"))
			assert.Contains(t, p["text/plain"], link)
			assert.Contains(t, p["text/html"], strings.ReplaceAll(link, "&", "&amp;"))

			var rec map[string]any
			require.NoError(t, json.Unmarshal(log.Bytes(), &rec))
			assert.Equal(t, link, rec["link"], "the log has the link: development only")
			assert.Equal(t, subject, rec["subject"])
			assert.Equal(t, "email", rec["channel"])
			assert.NotEmpty(t, rec["file"])
		})
	}
}

func TestSMSFile(t *testing.T) {
	n, log, dir := newNotifier(t, invitedev.Config{})
	require.NoError(t, n.Notify(t.Context(), message(invite.ChannelSMS, "+4915112345678", "ar")))
	m := readEML(t, dir)
	to, err := m.Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, "+4915112345678", to[0].Name)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "SMS to +4915112345678 (UCS-2, 2 segments)", subject)
	mt, _, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "text/plain", mt)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(log.Bytes(), &rec))
	assert.Equal(t, "UCS-2", rec["encoding"])
	assert.Contains(t, rec["body"], link)
	assert.Contains(t, rec["body"], "للانضمام")
}

func TestLogOnly(t *testing.T) {
	var log bytes.Buffer
	n, err := invitedev.New(invitedev.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	require.NoError(t, err)
	require.NoError(t, n.Notify(t.Context(), message(invite.ChannelUser, "user-42", "de")))
	assert.Contains(t, log.String(), "link="+`"`+link+`"`)
	assert.Contains(t, log.String(), "Einladung zu Acme")
}

func TestRenderErrorIsPermanent(t *testing.T) {
	n, _, dir := newNotifier(t, invitedev.Config{})
	msg := message(invite.ChannelEmail, "ada@example.com", "en")
	msg.TemplateKey = "missing"
	err := n.Notify(t.Context(), msg)
	require.ErrorIs(t, err, invitetmpl.ErrNoTemplate)
	assert.True(t, invite.IsPermanent(err))
	assert.NotContains(t, err.Error(), "inv_devtoken")
	files, _ := os.ReadDir(dir)
	assert.Empty(t, files)

	msg = message(invite.ChannelEmail, "not an address", "en")
	require.True(t, invite.IsPermanent(n.Notify(t.Context(), msg)))
}

// TestConfig: New refuses a From that is not an address and a Dir that
// cannot be created with an *invite.ValidationError naming each field.
func TestConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name   string
		cfg    invitedev.Config
		fields []string // nil: accepted
		is     error    // also matched, when set
	}{
		{name: "defaults", cfg: invitedev.Config{}},
		{name: "address with a name", cfg: invitedev.Config{From: "Dev <dev@localhost>", Dir: filepath.Join(t.TempDir(), "a", "b")}},
		{name: "From not an address", cfg: invitedev.Config{From: "not an address"}, fields: []string{"From"}},
		{name: "From two addresses", cfg: invitedev.Config{From: "a@example.com, b@example.com"}, fields: []string{"From"}},
		{name: "Dir under a file", cfg: invitedev.Config{Dir: filepath.Join(file, "sub")}, fields: []string{"Dir"}, is: syscall.ENOTDIR},
		{name: "both", cfg: invitedev.Config{From: "@", Dir: filepath.Join(file, "sub")}, fields: []string{"From", "Dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = slog.New(slog.DiscardHandler)
			n, err := invitedev.New(tt.cfg)
			if tt.fields == nil {
				require.NoError(t, err)
				require.NotNil(t, n)
				return
			}
			require.Nil(t, n)
			require.ErrorIs(t, err, invite.ErrInvalid)
			var ve *invite.ValidationError
			require.True(t, errors.As(err, &ve), "%T: %v", err, err)
			var got []string
			for _, f := range ve.Fields {
				require.NotEmpty(t, f.Code)
				require.NotEmpty(t, f.Reason)
				got = append(got, f.Field)
			}
			require.Equal(t, tt.fields, got)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// TestRefusedConfigCreatesNothing: New creates Dir only for a cfg it
// accepts.
func TestRefusedConfigCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail", "out")
	_, err := invitedev.New(invitedev.Config{From: "not an address", Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	var ve *invite.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Fields, 1)
	require.Equal(t, "From", ve.Fields[0].Field)
	_, err = os.Stat(filepath.Dir(dir))
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing created")

	_, err = invitedev.New(invitedev.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
}

func TestConcurrentFiles(t *testing.T) {
	n, _, dir := newNotifier(t, invitedev.Config{Now: func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			assert.NoError(t, n.Notify(t.Context(), message(invite.ChannelEmail, "ada@example.com", "en")))
		})
	}
	wg.Wait()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	assert.Len(t, files, 8, "same time, same id: still one file each")
	tmp, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, tmp)
}
