package invitehook

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/invitekit/invite"
)

// envelope is the JSON form of NewWebhook's payloads: the first fields of
// an invite.Event, and the host's data.
type envelope struct {
	ID   string           `json:"id"`
	Type invite.EventType `json:"type"`
	Time time.Time        `json:"time"`
	Data any              `json:"data"`
}

// NewWebhook builds a Webhook of the host's own for Send, in the shape of
// the library's events: {"id", "type", "time", "data"}, time in RFC 3339
// (UTC), data the JSON of data. The id is both the
// webhook-id and the payload's "id"; one that cannot be a webhook-id (see
// Webhook.ID) is an *invite.ValidationError on the field "ID", matching
// ErrMalformedID.
func NewWebhook(id string, typ invite.EventType, at time.Time, data any) (Webhook, error) {
	if !validID(id) {
		return Webhook{}, errBadID()
	}
	body, err := json.Marshal(envelope{ID: id, Type: typ, Time: at.UTC().Truncate(time.Microsecond), Data: data})
	if err != nil {
		return Webhook{}, fmt.Errorf("invitehook: encoding webhook %s: %w", id, err)
	}
	return Webhook{ID: id, Type: typ, Body: body}, nil
}

// errBadID is the error of an id that cannot be a webhook-id: a
// *invite.ValidationError on the field "ID" that also matches
// ErrMalformedID. It does not repeat the id.
func errBadID() error {
	return &invite.ValidationError{Fields: []invite.FieldError{{Field: "ID", Code: invite.CodeInvalidFormat,
		Reason: "is not 1 to 256 printable ASCII characters without spaces or full stops", Err: ErrMalformedID}}}
}
