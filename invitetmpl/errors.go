package invitetmpl

import (
	"errors"
	"fmt"

	"github.com/invitekit/invite"
)

// Registration errors. Register returns a *TemplateError that matches
// ErrTemplate and one of the more precise sentinels below.
var (
	// ErrTemplate: a template set could not be registered.
	ErrTemplate = errors.New("invitetmpl: invalid template")
	// ErrSyntax: a template does not parse, or fails its test rendering.
	ErrSyntax = errors.New("invitetmpl: template syntax")
	// ErrUnknownVariable: a template names a variable that is neither
	// built in nor declared in Config.Variables.
	ErrUnknownVariable = errors.New("invitetmpl: unknown template variable")
	// ErrMissingPart: a language folder holds only some of the parts of a
	// channel (an email needs subject.txt, body.html and body.txt), or a
	// resend variant with no first-send template beside it.
	ErrMissingPart = errors.New("invitetmpl: missing template part")
	// ErrLayout: a file or folder that is not part of the layout (an
	// unknown file name, a folder that is not a language tag).
	ErrLayout = errors.New("invitetmpl: unexpected file in the template layout")
	// ErrConstruct: a template uses a construct the renderer refuses
	// (sub-templates, index, call, fields of a variable).
	ErrConstruct = errors.New("invitetmpl: template construct not allowed")
)

// Rendering errors. A notifier turns them into invite.Permanent: sending
// the same message again fails the same way.
var (
	// ErrNoTemplate: no template for the message's key and channel in its
	// language, a fallback of it or the default language.
	ErrNoTemplate = errors.New("invitetmpl: no template")
	// ErrTooManySegments: an SMS body needs more segments than
	// Config.MaxSMSSegments allows.
	ErrTooManySegments = errors.New("invitetmpl: SMS too long")
	// ErrRender: executing a registered template failed.
	ErrRender = errors.New("invitetmpl: rendering failed")
)

// TemplateError says which file of a template set was refused and why. It
// matches ErrTemplate and Err.
type TemplateError struct {
	// Path is the file or folder in the registered fs.FS.
	Path string
	// Err is one of ErrSyntax, ErrUnknownVariable, ErrMissingPart,
	// ErrLayout, ErrConstruct, possibly wrapping the parser's error.
	Err error
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("invitetmpl: template %s: %v", e.Path, e.Err)
}

// Unwrap returns ErrTemplate and Err.
func (e *TemplateError) Unwrap() []error { return []error{ErrTemplate, e.Err} }

// NoTemplateError names what no template was found for. It matches
// ErrNoTemplate.
type NoTemplateError struct {
	Key     string
	Channel invite.Channel
	// Locale is the message's locale as given ("" for none).
	Locale string
}

func (e *NoTemplateError) Error() string {
	return fmt.Sprintf("invitetmpl: no %s template for key %q in locale %q or the default language", e.Channel, e.Key, e.Locale)
}

// Is matches ErrNoTemplate.
func (e *NoTemplateError) Is(target error) bool { return target == ErrNoTemplate }

// SegmentsError refuses an SMS body longer than Config.MaxSMSSegments. It
// matches ErrTooManySegments and carries no part of the body.
type SegmentsError struct {
	Segments, Max int
	Encoding      Encoding
}

func (e *SegmentsError) Error() string {
	return fmt.Sprintf("invitetmpl: SMS needs %d %s segments, more than the %d allowed", e.Segments, e.Encoding, e.Max)
}

// Is matches ErrTooManySegments.
func (e *SegmentsError) Is(target error) bool { return target == ErrTooManySegments }
