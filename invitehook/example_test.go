package invitehook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
	"github.com/invitekit/invite/memstore"
)

// Verify on the Standard Webhooks specification's published example.
func ExampleVerifyAt() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	at := time.Unix(1614265330, 0)

	fmt.Println(invitehook.VerifyAt(at, h, body, secret))
	err := invitehook.VerifyAt(at, h, []byte(`{"test": 1}`), secret)
	fmt.Println(errors.Is(err, invitehook.ErrNoMatch))
	err = invitehook.Verify(h, body, secret) // today: years too late
	fmt.Println(errors.Is(err, invitehook.ErrTooOld))
	// Output:
	// <nil>
	// true
	// true
}

// A receiver: verify, deduplicate, then act on the event.
func ExampleVerify() {
	secret := invitehook.NewSecret() // in practice from the receiver's configuration
	seen := map[string]bool{}        // in practice a store with a few days' memory
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := invitehook.Verify(r.Header, body, secret); err != nil {
			http.Error(w, "invalid webhook", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		if seen[id] {
			return // a retry of one already handled: 200
		}
		seen[id] = true
		var ev invite.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		fmt.Println(ev.Type, ev.New.State)
	})
	_ = handler
}

// The whole path: a Manager's events, through its Dispatcher and a Sink,
// to a receiver on loopback that verifies them.
func Example() {
	secret := invitehook.NewSecret()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev invite.Event
		_ = json.Unmarshal(body, &ev)
		fmt.Println(ev.Type, invitehook.Verify(r.Header, body, secret))
	}))
	defer receiver.Close()

	sink, err := invitehook.New(invitehook.Config{Endpoints: []invitehook.Endpoint{{
		URL:     receiver.URL + "/hooks/invite", // https in production
		Secrets: []string{secret},
		Types:   []invite.EventType{invite.EventSent, invite.EventAccepted},
	}}})
	if err != nil {
		panic(err)
	}
	m, err := invite.New(memstore.New(), invite.Config{
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
		Notifier:     invite.NotifierFunc(func(context.Context, invite.Message) error { return nil }),
		EventSink:    sink,
	})
	if err != nil {
		panic(err)
	}
	d, err := m.NewDispatcher(invite.DispatcherConfig{Concurrency: 1})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := m.Create(ctx, invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}})
	if err != nil {
		panic(err)
	}
	if _, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-7"}); err != nil {
		panic(err)
	}
	if _, err := d.Drain(ctx); err != nil {
		panic(err)
	}
	// Output:
	// invitation.sent <nil>
	// invitation.accepted <nil>
}
