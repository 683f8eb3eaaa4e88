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
// webhook-id and the payload's "id".
func NewWebhook(id string, typ invite.EventType, at time.Time, data any) (Webhook, error) {
	if !validID(id) {
		return Webhook{}, errBadID(id)
	}
	body, err := json.Marshal(envelope{ID: id, Type: typ, Time: at.UTC().Truncate(time.Microsecond), Data: data})
	if err != nil {
		return Webhook{}, fmt.Errorf("invitehook: encoding webhook %s: %w", id, err)
	}
	return Webhook{ID: id, Type: typ, Body: body}, nil
}

func errBadID(id string) error {
	return fmt.Errorf("invitehook: webhook id %q: 1 to 256 printable ASCII characters without spaces or full stops", id)
}
