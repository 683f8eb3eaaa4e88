package invite

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Field error codes: FieldError.Code, a stable machine-readable kind of
// problem next to the human Reason. Clients branch on the code; the
// reason's words may change.
const (
	// CodeRequired: the field is missing or empty (or blank), or another
	// field requires it.
	CodeRequired = "required"
	// CodeTooLong: a text, list, map or document is longer, larger or
	// deeper than allowed.
	CodeTooLong = "too_long"
	// CodeInvalidFormat: the value does not parse or is not of the form
	// asked for (an email address, a phone number, a language tag, JSON,
	// a URL, text without control characters).
	CodeInvalidFormat = "invalid_format"
	// CodeOutOfRange: a number, duration or time outside its bounds.
	CodeOutOfRange = "out_of_range"
	// CodeUnknown: the value names something that does not exist (a
	// template key, a state, a kind).
	CodeUnknown = "unknown"
	// CodeConflict: the field contradicts another field of the input.
	CodeConflict = "conflict"
	// CodeNotAllowed: the value is well formed but refused where it is
	// given (a link to a host that is not allowed, a delivery the Manager
	// is not configured for).
	CodeNotAllowed = "not_allowed"
	// CodeNoDeliveryChannel: the invitee has no email, phone or user id
	// (the field error matches ErrNoDeliveryChannel).
	CodeNoDeliveryChannel = "no_delivery_channel"
	// CodeInvalid: any other problem.
	CodeInvalid = "invalid"
)

// codeRules map the start (or, for the ones with a leading "*", any part)
// of a Reason the library writes to its Code; a "#" matches a digit. TestFieldErrorCodes holds
// every reason the validation tests produce to a rule.
var codeRules = []struct{ match, code string }{
	{"needs a store", CodeNotAllowed},
	{"must be #", CodeOutOfRange},
	{"out of range", CodeOutOfRange},
	{"must use ", CodeInvalidFormat},
	{"must be an absolute", CodeInvalidFormat},
	{"is required", CodeRequired},
	{"is blank", CodeRequired},
	{"*is required", CodeRequired},
	{"needs ", CodeRequired},
	{"is longer than", CodeTooLong},
	{"has more than", CodeTooLong},
	{"nests deeper than", CodeTooLong},
	{"*together exceed", CodeTooLong},
	{"is too long", CodeTooLong},
	{"must be between", CodeOutOfRange},
	{"must be 1 to", CodeOutOfRange},
	{"must be at least", CodeOutOfRange},
	{"must be at most", CodeOutOfRange},
	{"must not be negative", CodeOutOfRange},
	{"must be positive", CodeOutOfRange},
	{"must lie within", CodeOutOfRange},
	{"must not be below", CodeOutOfRange},
	{"must fall in", CodeOutOfRange},
	{"must be shorter than", CodeOutOfRange},
	{"must be in the future", CodeOutOfRange},
	{"is not one of", CodeUnknown},
	{"is not a known", CodeUnknown},
	{"is not a state", CodeUnknown},
	{"is not an outbox kind", CodeUnknown},
	{"is not an outcome", CodeUnknown},
	{"is not DeliverySend", CodeUnknown},
	{"must not be set with", CodeConflict},
	{"conflicts with", CodeConflict},
	{"cannot be combined with", CodeConflict},
	{"renders a link that", CodeNotAllowed},
	{"must point to a host", CodeNotAllowed},
	{"no Notifier", CodeNotAllowed},
	{"nothing to deliver", CodeNotAllowed},
	{"*need a Notifier", CodeNotAllowed},
	{"*need an EventSink", CodeNotAllowed},
	{"works inside a host transaction", CodeNotAllowed},
	{"has no email, phone or user id", CodeRequired},
	{"is malformed", CodeInvalidFormat},
	{"is not ", CodeInvalidFormat},
	{"contains ", CodeInvalidFormat},
	{"does not parse", CodeInvalidFormat},
	{"*not valid UTF-8", CodeInvalidFormat},
	{"*does not encode", CodeInvalid},
}

// codeFor is the Code of a Reason the library writes (CodeInvalid when no
// rule matches).
func codeFor(reason string) string {
	for _, r := range codeRules {
		if m, ok := strings.CutPrefix(r.match, "*"); ok {
			if strings.Contains(reason, m) {
				return r.code
			}
		} else if m, ok := strings.CutSuffix(r.match, "#"); ok {
			if rest, ok := strings.CutPrefix(reason, m); ok && rest != "" && '0' <= rest[0] && rest[0] <= '9' {
				return r.code
			}
		} else if strings.HasPrefix(reason, r.match) {
			return r.code
		}
	}
	return CodeInvalid
}

// newFieldError is the FieldError of field for reason, with its Code.
func newFieldError(field, reason string, err error) FieldError {
	code := codeFor(reason)
	if err == ErrNoDeliveryChannel {
		code = CodeNoDeliveryChannel
	}
	return FieldError{Field: field, Reason: reason, Code: code, Err: err}
}

// segments splits a Field into its names, indexes and keys: "Invitee.Email"
// into Invitee and Email, `Data["plan"]` into Data and the key plan,
// "Roles[2]" into Roles and 2. Names are returned as given; isName tells
// them from indexes and keys. A quoted key that does not unquote (cut at
// 64 bytes by the library) is returned as it stands between its quotes.
func segments(field string) (segs []string, isName []bool) {
	for field != "" {
		switch field[0] {
		case '.':
			field = field[1:]
		case '[':
			end := 1
			if len(field) > 1 && field[1] == '"' {
				// A quoted key: up to the closing quote not escaped.
				for end = 2; end < len(field); end++ {
					if field[end] == '\\' {
						end++
					} else if field[end] == '"' {
						break
					}
				}
				q := field[1:min(end+1, len(field))]
				key, err := strconv.Unquote(q)
				if err != nil {
					key = strings.Trim(q, `"`)
				}
				segs, isName = append(segs, key), append(isName, false)
				end = min(end+1, len(field))
			} else {
				for end < len(field) && field[end] != ']' {
					end++
				}
				segs, isName = append(segs, field[1:end]), append(isName, false)
			}
			if end < len(field) && field[end] == ']' {
				end++
			}
			field = field[end:]
		default:
			end := strings.IndexAny(field, ".[")
			if end < 0 {
				end = len(field)
			}
			segs, isName = append(segs, field[:end]), append(isName, true)
			field = field[end:]
		}
	}
	return segs, isName
}

// Path is the field's path in the JSON form of the input: the JSON names
// of its fields, dotted, and its list indexes and map keys as further
// segments ("invitee.email", "roles.2", "data.plan"). The library's input
// types name their JSON fields in snake_case after their Go names, which
// is how Path derives them from Field.
func (f FieldError) Path() string {
	segs, isName := segments(f.Field)
	for i := range segs {
		if isName[i] {
			segs[i] = jsonName(segs[i])
		}
	}
	return strings.Join(segs, ".")
}

// Pointer is the field's location in the JSON form of the input as an RFC
// 6901 JSON pointer ("/invitee/email", "/data/plan", "/roles/2"), for a
// problem-details response.
func (f FieldError) Pointer() string {
	segs, isName := segments(f.Field)
	var b strings.Builder
	for i, s := range segs {
		if isName[i] {
			s = jsonName(s)
		}
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(s))
	}
	return b.String()
}

// MarshalJSON encodes the field error as {"path", "pointer", "code",
// "reason"}: what a client needs, in the input's JSON names.
func (f FieldError) MarshalJSON() ([]byte, error) {
	code := f.Code
	if code == "" {
		code = CodeInvalid
	}
	return json.Marshal(struct {
		Path    string `json:"path"`
		Pointer string `json:"pointer"`
		Code    string `json:"code"`
		Reason  string `json:"reason"`
	}{f.Path(), f.Pointer(), code, f.Reason})
}

// pointerEscaper escapes a JSON pointer's reference token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// jsonName is the snake_case JSON name of the Go field name s:
// "GivenName" is given_name, "UserID" user_id, "RedirectURI" redirect_uri.
func jsonName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			prevLower := i > 0 && ('a' <= s[i-1] && s[i-1] <= 'z' || '0' <= s[i-1] && s[i-1] <= '9')
			nextLower := i > 0 && i+1 < len(s) && 'a' <= s[i+1] && s[i+1] <= 'z' && 'A' <= s[i-1] && s[i-1] <= 'Z'
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
