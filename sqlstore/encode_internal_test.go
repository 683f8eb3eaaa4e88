package sqlstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/invitekit/invite"
)

func TestHasNULEscape(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"b"}`:            false,
		`{"a":"\u0000"}`:       true,
		`{"a":"x\u0000y"}`:     true,
		`{"a":"\\u0000"}`:      false, // an escaped backslash, then u0000
		`{"a":"\\\u0000"}`:     true,
		`{"a":"\u00000"}`:      true,
		`{"a":"\u0001"}`:       false,
		`{"\\u0000":"\u0000"}`: true,
		`\u000`:                false,
	} {
		if got := hasNULEscape([]byte(in)); got != want {
			t.Errorf("hasNULEscape(%s) = %v, want %v", in, got, want)
		}
	}
}

// TestMarshalEventSplice checks that a payload reusing the written
// document is byte for byte json.Marshal of the event.
func TestMarshalEventSplice(t *testing.T) {
	if !eventSplices {
		t.Fatal("invite.Event no longer ends with Old and New (*Invitation, omitempty): marshalEvent encodes every payload whole; update marshalEvent and eventSplices")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	base := invite.Invitation{
		ID: "inv-1", TenantID: "tenant <&> 1", Invitee: invite.Invitee{Email: "A@example.com"},
		GivenName: "Zoë", FamilyName: "O'Brien \u2028", Inviter: invite.Inviter{ID: "admin", Name: "<b>Grace</b>"},
		Roles: []string{"member", "a&b"}, Data: map[string]string{"z": "1", "a": "<2>"},
		FormData: map[string]map[string]string{"f": {"k": "v"}}, Metadata: json.RawMessage(`{ "x" : [1, 2, "<y>"] }`),
		State: invite.StatePending, CreatedAt: now, UpdatedAt: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1,
	}
	accepted := base
	accepted.State, accepted.AcceptedBy, accepted.ClosedAt, accepted.Version = invite.StateAccepted, "user-1", now, 2
	local := base
	local.UpdatedAt = now.In(paris)
	nanos := base
	nanos.ExpiresAt = now.Add(time.Nanosecond)
	for name, c := range map[string]struct {
		old, new *invite.Invitation
		exact    bool
	}{
		"create":           {nil, &base, true},
		"accept":           {&base, &accepted, true},
		"old only":         {&base, nil, true},
		"local time":       {&base, &local, false},
		"nanoseconds":      {nil, &nanos, false},
		"accepted, no old": {nil, &accepted, true},
	} {
		t.Run(name, func(t *testing.T) {
			ev := invite.Event{ID: "ev-1", Type: invite.EventAccepted, Time: now, TenantID: base.TenantID, InvitationID: base.ID,
				Actor: invite.Actor{Kind: invite.ActorInvitee, ID: "user-1"}, Old: c.old, New: c.new}
			want, err := json.Marshal(&ev)
			if err != nil {
				t.Fatal(err)
			}
			newDoc := ""
			if c.new != nil {
				rw, ferrs := encodeRecord(newDialect(Postgres), &invite.Record{Invitation: *c.new})
				if len(ferrs) > 0 {
					t.Fatal(ferrs)
				}
				if rw.exactDoc != c.exact {
					t.Fatalf("exactDoc = %v, want %v", rw.exactDoc, c.exact)
				}
				if rw.exactDoc {
					newDoc = rw.doc
				}
			}
			for _, noNUL := range []bool{false, true} {
				got, err := marshalEvent(&ev, newDoc, noNUL)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Fatalf("payload differs:\n got %s\nwant %s", got, want)
				}
			}
			// A NUL in the old invitation is refused on PostgreSQL.
			if c.old != nil && newDoc != "" {
				bad := *c.old
				bad.Reason = "a\x00b"
				ev.Old = &bad
				if _, err := marshalEvent(&ev, newDoc, true); !errors.Is(err, errNUL) {
					t.Fatalf("NUL in Old: %v", err)
				}
			}
		})
	}
}

// TestTimeDest checks that a time column scans from every form a driver
// hands it in: MySQL's text without parseTime included.
func TestTimeDest(t *testing.T) {
	want := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, v := range []any{want, want.In(time.FixedZone("x", 3600)), want.UnixMicro(), []byte("2024-05-06 07:08:09.123456"),
		"2024-05-06T07:08:09.123456Z"} {
		var got time.Time
		if err := (timeDest{&got}).Scan(v); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Scan(%T %v) = %v, %v", v, v, got, err)
		}
	}
	var got time.Time
	if err := (timeDest{&got}).Scan([]byte("2024-05-06 07:08:09")); err != nil || !got.Equal(want.Truncate(time.Second)) {
		t.Errorf("whole seconds: %v, %v", got, err)
	}
	if err := (timeDest{&got}).Scan(nil); err != nil || !got.IsZero() {
		t.Errorf("NULL: %v, %v", got, err)
	}
	if err := (timeDest{&got}).Scan("yesterday"); err == nil {
		t.Error("a malformed time scanned")
	}
}
