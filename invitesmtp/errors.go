package invitesmtp

import (
	"errors"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/invitekit/invite"
)

// ErrClosed is returned by Notify after Close.
var ErrClosed = errors.New("invitesmtp: the notifier is closed")

// Stage is the step of a delivery that failed.
type Stage string

// The stages of a delivery.
const (
	// StageConnect: dialling, the greeting, STARTTLS or implicit TLS, or
	// authentication.
	StageConnect Stage = "connect"
	// StageSender: the server refused the envelope sender (MAIL FROM).
	// Even a 5xx reply here is retried: it says the sender (the
	// configuration, or the account at the server) is wrong, not the
	// message, and refusing every message for good at once would
	// dead-letter them all for one fixable mistake.
	StageSender Stage = "sender"
	// StageRecipient: the server refused the recipient (RCPT TO).
	StageRecipient Stage = "recipient"
	// StageData: the server refused or lost the message (DATA, the
	// message itself, or the reply after it).
	StageData Stage = "data"
)

// SendError is a failed attempt to hand a message to the server. Notify
// returns it wrapped by invite.Permanent when the server refused the
// recipient or the message for good (a 5xx reply to RCPT TO or to the
// message's DATA, except the authentication replies 530, 534, 535 and
// 538), and as it is otherwise: a 4xx reply, a refused sender (even with
// a 5xx reply to MAIL FROM), a lost connection, a timeout, a TLS or
// authentication failure, which the dispatcher retries.
//
// Its text holds the server's reply with the message's link and code
// removed.
type SendError struct {
	Stage Stage
	// Code is the server's reply code (550, 451, ...); 0 when the failure
	// was not a reply (a network error, a timeout).
	Code int
	// EnhancedCode is the reply's enhanced status code ("5.1.1") when the
	// server sent one.
	EnhancedCode string
	text         string
}

func (e *SendError) Error() string {
	return "invitesmtp: " + string(e.Stage) + ": " + e.text
}

// Temporary reports whether the server's reply class allows a retry:
// everything but a 5xx reply. Notify decides what is permanent from the
// stage too (see SendError).
func (e *SendError) Temporary() bool { return e.Code < 500 || e.Code > 599 }

// permanent reports whether e refuses the message for good: a 5xx reply
// refusing the recipient or the message. A refused sender is the
// configuration's fault, shared by every message: retried.
func (e *SendError) permanent() bool {
	if e.Temporary() || (e.Stage != StageRecipient && e.Stage != StageData) {
		return false
	}
	switch e.Code {
	case 530, 534, 535, 538: // authentication required, too weak, failed, needs encryption
		return false
	}
	return true
}

// result returns e as Notify returns it.
func (e *SendError) result() error {
	if e.permanent() {
		return invite.Permanent(e)
	}
	return e
}

// tokenPattern matches the library's link tokens, wherever a server
// echoes one.
var tokenPattern = regexp.MustCompile(`inv_[0-9A-Za-z]{20,}`)

// redactor removes a message's secrets from text.
type redactor []string

func newRedactor(msg invite.Message) redactor {
	var r redactor
	for _, s := range []string{msg.Vars.InviteLink.Reveal(), msg.Vars.Code.Reveal()} {
		if len(s) >= 4 {
			r = append(r, s)
		}
	}
	return r
}

// clean returns text without the secrets, tokens or control characters,
// at most 1,000 bytes.
func (r redactor) clean(text string) string {
	for _, s := range r {
		text = strings.ReplaceAll(text, s, "[REDACTED]")
	}
	text = tokenPattern.ReplaceAllString(text, "[REDACTED]")
	return headerText(text, 1000)
}

// sendError converts an error of the connection or of go-mail into a
// *SendError whose text r has cleaned.
func sendError(stage Stage, err error, r redactor) *SendError {
	e := &SendError{Stage: stage}
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se):
		switch se.Reason {
		case gomail.ErrSMTPMailFrom:
			e.Stage = StageSender
		case gomail.ErrSMTPRcptTo:
			e.Stage = StageRecipient
		case gomail.ErrConnCheck:
			e.Stage = StageConnect
		default:
			e.Stage = StageData
		}
		e.Code = se.ErrorCode()
		e.EnhancedCode = se.EnhancedStatusCode()
	case errors.As(err, &te):
		e.Code = te.Code
	}
	text := err.Error()
	if e.Code == 0 {
		e.Code = replyCode(text)
	}
	if e.EnhancedCode == "" && e.Code != 0 {
		e.EnhancedCode = enhancedPattern.FindString(text)
	}
	e.text = r.clean(text)
	return e
}

var (
	replyPattern    = regexp.MustCompile(`(?:^|: )([245][0-9][0-9])[ -]`)
	enhancedPattern = regexp.MustCompile(`\b[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)
)

// replyCode finds an SMTP reply code at the start of text or after a ": ".
func replyCode(text string) int {
	m := replyPattern.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
