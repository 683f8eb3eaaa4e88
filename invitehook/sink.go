package invitehook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invitekit/invite"
)

// Defaults and limits of a Sink.
const (
	// DefaultTimeout bounds one request: connecting, sending, the
	// response's headers and the part of its body that is read.
	DefaultTimeout = 15 * time.Second
	// MaxResponseBody is how much of a response body is read (and
	// discarded) before the connection is closed.
	MaxResponseBody = 64 << 10
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter = 24 * time.Hour
	// DefaultRemember is how many webhooks awaiting a retry a Sink
	// remembers the endpoints of (see Config.Remember).
	DefaultRemember = 10000
	// DefaultUserAgent is the User-Agent of every request.
	DefaultUserAgent = "invitehook/1 (+https://github.com/invitekit/invite)"
)

// Endpoint is one receiver of webhooks.
type Endpoint struct {
	// Name identifies the endpoint in logs, errors, Disabled and Enable;
	// unique within a Config. Default: the URL without its user
	// information and query.
	Name string
	// URL is where webhooks are POSTed: https, or http to a loopback
	// address (development and tests).
	URL string
	// Secrets sign every request, one signature each; at least one. Give
	// two during a rotation (the new one first, the old one until every
	// receiver has switched): a receiver that knows either accepts it.
	Secrets []string
	// Types are the event types (or the types of Send's webhooks) this
	// endpoint receives. Empty: all of them.
	Types []invite.EventType
}

// Config configures a Sink.
type Config struct {
	// Endpoints receive the webhooks; at least one.
	Endpoints []Endpoint
	// Timeout bounds one request. Default: DefaultTimeout (15 s).
	Timeout time.Duration
	// Transport makes the requests. Default: a clone of
	// http.DefaultTransport. Redirects are never followed.
	Transport http.RoundTripper
	// UserAgent is sent with every request. Default: DefaultUserAgent.
	UserAgent string
	// Logger receives a warning for every failed attempt and every
	// endpoint disabled. Default: discard.
	Logger *slog.Logger
	// Now is the clock of the webhook-timestamp header. Default: time.Now.
	Now func() time.Time
	// OnDisable, when set, is called once an endpoint answers 410 Gone
	// and is disabled, with the endpoint's Name. It runs on the delivering
	// goroutine, possibly on several at once: keep it short and safe for
	// concurrent use.
	OnDisable func(endpoint string)
	// Remember is how many webhooks awaiting a retry (with the others of
	// the same Publish call) the Sink remembers the outcome of per
	// endpoint, so that a retry does not send again to the endpoints that
	// took it or refused it for good. Default: DefaultRemember. The oldest
	// are forgotten first; a forgotten one is sent again to every
	// endpoint, which deduplicate on webhook-id.
	Remember int
}

// ErrInvalidConfig matches every *ConfigError.
var ErrInvalidConfig = errors.New("invitehook: invalid config")

// ConfigError names a Config field that New refuses. (A bad secret is a
// *SecretError.)
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "invitehook: " + e.Field + ": " + e.Reason }

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// endpoint is an Endpoint ready to send.
type endpoint struct {
	name  string
	url   string
	keys  []key
	types []invite.EventType
}

func (e *endpoint) wants(t invite.EventType) bool {
	return len(e.types) == 0 || slices.Contains(e.types, t)
}

// Sink is an invite.EventSink that delivers each event as a signed
// webhook to its endpoints. It is safe for concurrent use. See the package
// documentation for what each response means.
type Sink struct {
	eps       []*endpoint
	client    *http.Client
	userAgent string
	log       *slog.Logger
	now       func() time.Time
	onDisable func(string)
	memo      *memo

	mu       sync.Mutex
	disabled map[string]bool
}

var _ invite.EventSink = (*Sink)(nil)

// New checks cfg (every secret, URL and name) and returns its Sink.
func New(cfg Config) (*Sink, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, &ConfigError{Field: "Endpoints", Reason: "no endpoint given"}
	}
	if cfg.Timeout < 0 {
		return nil, &ConfigError{Field: "Timeout", Reason: "is negative"}
	}
	if cfg.Remember < 0 {
		return nil, &ConfigError{Field: "Remember", Reason: "is negative"}
	}
	s := &Sink{
		userAgent: cmp(cfg.UserAgent, DefaultUserAgent),
		log:       cfg.Logger,
		now:       cfg.Now,
		onDisable: cfg.OnDisable,
		memo:      newMemo(cfg.Remember),
		disabled:  map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if strings.ContainsAny(s.userAgent, "\r\n") {
		return nil, &ConfigError{Field: "UserAgent", Reason: "holds a line break"}
	}
	for i, e := range cfg.Endpoints {
		field := "Endpoints[" + strconv.Itoa(i) + "]"
		ep, err := newEndpoint(field, e)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(s.eps, func(o *endpoint) bool { return o.name == ep.name }) {
			return nil, &ConfigError{Field: field + ".Name", Reason: fmt.Sprintf("%q names another endpoint too", ep.name)}
		}
		s.eps = append(s.eps, ep)
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	s.client = &http.Client{
		Transport: rt,
		Timeout:   cmp(cfg.Timeout, DefaultTimeout),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return s, nil
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func newEndpoint(field string, e Endpoint) (*endpoint, error) {
	u, err := url.Parse(e.URL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, &ConfigError{Field: field + ".URL", Reason: "is not an absolute URL"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return nil, &ConfigError{Field: field + ".URL", Reason: "must be https (http only to a loopback address)"}
	}
	u.Fragment, u.RawFragment = "", ""
	keys, err := parseSecrets(field+".Secrets", e.Secrets)
	if err != nil {
		return nil, err
	}
	name := e.Name
	if name == "" {
		name = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	}
	return &endpoint{name: name, url: u.String(), keys: keys, types: slices.Clone(e.Types)}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Webhook is a payload of the host's own for Sink.Send.
type Webhook struct {
	// ID is the webhook-id: the same on every retry of this webhook, the
	// receivers' deduplication key. 1 to 256 printable ASCII characters
	// without spaces or full stops (a UUID, or "account-created-" and the
	// user's id); Send refuses any other with a permanent
	// *invite.ValidationError on the field "ID".
	ID string
	// Type selects the endpoints (their Types); it is not sent: put it in
	// the Body.
	Type invite.EventType
	// Body is sent as it is, with Content-Type application/json.
	Body []byte
}

// Publish delivers each event as the JSON of invite.Event to every enabled
// endpoint whose Types include its type. The webhook-id is the event's ID.
// It returns nil once every such endpoint has taken every event; see the
// package documentation for the errors and what a retry sends.
func (s *Sink) Publish(ctx context.Context, events []invite.Event) error {
	var errs []error
	outs := make([]outcome, 0, len(events))
	for i := range events {
		body, err := json.Marshal(&events[i])
		if err != nil {
			errs = append(errs, fatal{fmt.Errorf("invitehook: encoding event %s: %w", events[i].ID, err)})
			continue
		}
		outs = append(outs, s.send(ctx, Webhook{ID: events[i].ID, Type: events[i].Type, Body: body}))
	}
	return combine(append(errs, s.settle(outs)...))
}

// Send signs w and POSTs it to every enabled endpoint whose Types include
// w.Type, at once, the way Publish sends an event: for webhooks of the
// host's own, such as an account created after an invitation was
// accepted. It returns nil when every such endpoint took it (or there is
// none); otherwise an error that invite.IsPermanent tells apart (no retry
// can help) and that may carry the pause a receiver asked for (see
// RetryAfterOf). Call it again with the same ID to retry: endpoints that
// took it are skipped while the Sink remembers them.
func (s *Sink) Send(ctx context.Context, w Webhook) error {
	return combine(s.settle([]outcome{s.send(ctx, w)}))
}

// outcome is what one call made of one webhook.
type outcome struct {
	id string
	// errs are this attempt's failures, unmarked: *DeliveryError or
	// fatal.
	errs []error
	// prior is what earlier attempts settled, as the memo had it; done is
	// prior with what this attempt settled (nil for taken, the
	// *DeliveryError for refused for good).
	prior, done map[string]error
}

// pending reports whether an endpoint may still take the webhook on a
// retry.
func (o outcome) pending() bool { return slices.ContainsFunc(o.errs, retryable) }

// send delivers w to the endpoints that have not settled it yet. It only
// reads the memo: settle updates it.
func (s *Sink) send(ctx context.Context, w Webhook) outcome {
	if !validID(w.ID) {
		return outcome{errs: []error{fatal{errBadID()}}}
	}
	prior := s.memo.get(w.ID)
	var targets []*endpoint
	for _, ep := range s.eps {
		if _, ok := prior[ep.name]; ok || !ep.wants(w.Type) || s.isDisabled(ep.name) {
			continue
		}
		targets = append(targets, ep)
	}
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		errs[0] = s.post(ctx, targets[0], w)
	} else {
		var wg sync.WaitGroup
		for i, ep := range targets {
			wg.Go(func() { errs[i] = s.post(ctx, ep, w) })
		}
		wg.Wait()
	}
	done := maps.Clone(prior)
	for i, ep := range targets {
		if !retryable(errs[i]) {
			done[ep.name] = errs[i]
		}
	}
	return outcome{id: w.ID, errs: errs, prior: prior, done: done}
}

// settle records the outcomes of one call (a Publish batch, or one Send)
// and returns its failures. While any webhook of the call awaits a retry,
// the Sink remembers who settled each of them, the ones already settled
// included: the caller retries the whole call, and an endpoint that took
// a webhook, or refused it for good, must not receive it again. Once
// nothing awaits a retry, the call is settled: the refusals of earlier
// attempts count too, and nothing more is remembered (a later call with
// these IDs starts afresh).
func (s *Sink) settle(outs []outcome) []error {
	pending := slices.ContainsFunc(outs, outcome.pending)
	var errs []error
	for _, o := range outs {
		errs = append(errs, o.errs...)
		if o.id == "" {
			continue // an invalid id: nothing sent, nothing to remember
		}
		if pending && len(o.done) > 0 {
			s.memo.put(o.id, o.done)
			continue
		}
		s.memo.forget(o.id)
		if !pending {
			for _, err := range o.prior {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// fatal is a failure no retry can help that is not an endpoint's answer.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// retryable reports whether err, a failure from post, may pass on a retry.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	de, ok := err.(*DeliveryError)
	return ok && de.retry
}

// DeliveryError is one endpoint's failure to take a webhook.
type DeliveryError struct {
	Endpoint string
	// Status is the response's status code; 0 when there was no response
	// (a network error or a timeout).
	Status int
	// RetryAfter is the pause the response's Retry-After asked for.
	RetryAfter time.Duration
	// Err is the network error, when Status is 0.
	Err error

	retry bool
}

func (e *DeliveryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("invitehook: endpoint %q: %v", e.Endpoint, e.Err)
	}
	msg := fmt.Sprintf("invitehook: endpoint %q answered %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
	if e.RetryAfter > 0 {
		msg += " (retry after " + e.RetryAfter.String() + ")"
	}
	return msg
}

// Unwrap returns Err.
func (e *DeliveryError) Unwrap() error { return e.Err }

// post sends w to ep once. nil: the endpoint took it, or answered 410 and
// is now disabled.
func (s *Sink) post(ctx context.Context, ep *endpoint, w Webhook) error {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(w.Body))
	if err != nil {
		return &DeliveryError{Endpoint: ep.name, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderID, w.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, signature(ep.keys, w.ID, ts, w.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		// Not the *url.Error: its text holds the URL, query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.log.WarnContext(ctx, "invitehook: webhook not delivered", "endpoint", ep.name, "webhook_id", w.ID, "error", err)
		return &DeliveryError{Endpoint: ep.name, Err: err, retry: true}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBody))
	_ = resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code <= 299:
		return nil
	case code == http.StatusGone:
		s.disable(ctx, ep.name)
		return nil
	}
	s.log.WarnContext(ctx, "invitehook: webhook refused", "endpoint", ep.name, "webhook_id", w.ID, "status", code)
	de := &DeliveryError{Endpoint: ep.name, Status: code}
	if code == http.StatusTooManyRequests || code >= 500 {
		de.retry = true
		de.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	// Otherwise 3xx (redirects are not followed: the URL needs updating)
	// or 4xx other than 410 and 429: the same request cannot pass later.
	return de
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date,
// capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

func (s *Sink) isDisabled(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disabled[name]
}

func (s *Sink) disable(ctx context.Context, name string) {
	s.mu.Lock()
	first := !s.disabled[name]
	s.disabled[name] = true
	s.mu.Unlock()
	if !first {
		return
	}
	s.log.WarnContext(ctx, "invitehook: endpoint answered 410 Gone and is disabled until Enable or a restart", "endpoint", name)
	if s.onDisable != nil {
		s.onDisable(name)
	}
}

// Disabled returns the names of the endpoints disabled by a 410 Gone, in
// the order of the Config.
func (s *Sink) Disabled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ep := range s.eps {
		if s.disabled[ep.name] {
			out = append(out, ep.name)
		}
	}
	return out
}

// Enable enables a disabled endpoint again. It reports whether the Sink
// has an endpoint of that name.
func (s *Sink) Enable(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.disabled, name)
	return slices.ContainsFunc(s.eps, func(ep *endpoint) bool { return ep.name == name })
}

// RetryAfterOf returns the pause a receiver asked for with Retry-After in
// an error from Send or Publish (the longest, when several did).
func RetryAfterOf(err error) (time.Duration, bool) {
	var d time.Duration
	found := false
	walk(err, func(e error) {
		if de, ok := e.(*DeliveryError); ok && de.RetryAfter > 0 {
			d, found = max(d, de.RetryAfter), true
		}
	})
	return d, found
}

func walk(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, f)
		}
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), f)
	}
}

// combine joins the failures of post (and fatal ones): nil for none;
// retryable when any is, with the longest Retry-After asked for;
// otherwise marked invite.Permanent.
func combine(errs []error) error {
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if len(errs) == 0 {
		return nil
	}
	var err error = multiError(errs)
	if len(errs) == 1 {
		err = errs[0]
	}
	if !slices.ContainsFunc(errs, retryable) {
		return invite.Permanent(err)
	}
	if d, ok := RetryAfterOf(err); ok {
		return invite.RetryAfter(err, d)
	}
	return err
}

// multiError lists failures on one line.
type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, err := range m {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }
