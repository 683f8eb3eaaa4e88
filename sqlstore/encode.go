package sqlstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// row is a record as the invitations table holds it, ready to bind: every
// value is what the dialect's driver takes for its column.
type row struct {
	tenantID, id string
	version      int64
	state        string
	// emailKey, phoneKey, userKey, inviterID and idemKey are a string, or
	// nil when empty.
	emailKey, phoneKey, userKey, inviterID, idemKey any
	createdAt, expiresAt                            any
	closedAt                                        any // nil when zero
	doc                                             string
	tokenHash                                       any // []byte, or nil when zero
	prevTokens                                      any // string, or nil when there are none
	codeHash                                        any // []byte, or nil when empty
	codeFailures                                    int64
	requestDigest                                   any // []byte, or nil when empty
	// searchName and searchFamily are the keys of invite.Filter.Search
	// (invite.Invitation.NameKeys): a string, or nil when empty.
	searchName, searchFamily any
	// hashes are the current and previous token hashes, without the zero
	// hash and without duplicates: the rows of the tokens table.
	hashes [][]byte
	// exactDoc is true when doc is exactly json.Marshal of the record's
	// own Invitation (its times were already in UTC, in microseconds), so
	// that an event carrying that Invitation can reuse it (see
	// encodeEvent).
	exactDoc bool
}

// values returns the row's values in the order of invitationColumns.
func (r *row) values() []any { return r.appendValues(make([]any, 0, len(invitationColumns))) }

// appendValues appends the row's values to dst in the order of
// invitationColumns.
func (r *row) appendValues(dst []any) []any {
	return append(dst, r.tenantID, r.id, r.version, r.state, r.emailKey, r.phoneKey, r.userKey, r.inviterID, r.idemKey,
		r.createdAt, r.expiresAt, r.closedAt, r.doc, r.tokenHash, r.prevTokens, r.codeHash, r.codeFailures, r.requestDigest,
		r.searchName, r.searchFamily)
}

// invitationColumns are the columns of the invitations table an insert or
// update writes, in the order of row.values.
var invitationColumns = []string{"tenant_id", "id", "version", "state", "email_key", "phone_key", "user_key",
	"inviter_id", "idempotency_key", "created_at", "expires_at", "closed_at", "doc", "token_hash", "prev_tokens",
	"code_hash", "code_failures", "request_digest", "search_name", "search_family"}

// recordColumns are the columns a read selects, in the order scanRecord
// takes them.
const recordColumns = "doc, token_hash, prev_tokens, code_hash, code_failures, request_digest"

// utc is t in UTC, truncated to the microsecond every dialect keeps.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sameJSONTime reports whether utc(t) encodes in JSON (RFC 3339, with
// nanoseconds and the zone offset) exactly as t does.
func sameJSONTime(t time.Time) bool {
	_, offset := t.Zone()
	return offset == 0 && t.Nanosecond()%int(time.Microsecond) == 0
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// prevTokenJSON is one previous token in the prev_tokens column.
type prevTokenJSON struct {
	Hash      string    `json:"hash"` // hex
	ExpiresAt time.Time `json:"expires_at"`
}

func invalid(field, reason string) error {
	return &invite.ValidationError{Fields: []invite.FieldError{{Field: field, Reason: reason}}}
}

// encodeRecord turns r into a row, or returns what makes it unstorable. Its
// times are stored in UTC, truncated to microseconds, in the columns and in
// the document alike.
func encodeRecord(dl dialect, r *invite.Record) (row, []invite.FieldError) {
	inv := r.Invitation // a shallow copy: only its times are replaced
	exact := true
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt, &inv.LastResentAt} {
		exact = exact && sameJSONTime(*t)
		*t = utc(*t)
	}
	doc, err := json.Marshal(&inv)
	if err != nil {
		// Metadata that is not JSON, or a time beyond year 9999.
		return row{}, []invite.FieldError{{Field: "Invitation", Reason: "does not encode as JSON: " + err.Error()}}
	}
	if dl.refusesNUL() && hasNULEscape(doc) {
		return row{}, []invite.FieldError{{Field: "Invitation",
			Reason: "holds U+0000 in a string, which PostgreSQL cannot store in jsonb"}}
	}
	rw, ferrs := encodeColumns(dl, &inv, &r.Credentials)
	rw.doc, rw.exactDoc = string(doc), exact
	return rw, ferrs
}

// encodeColumns turns inv and c into the row's columns, all but the
// document.
func encodeColumns(dl dialect, inv *invite.Invitation, c *invite.Credentials) (row, []invite.FieldError) {
	rw := row{
		tenantID: inv.TenantID, id: inv.ID, version: inv.Version, state: string(inv.State),
		phoneKey: nullString(inv.Invitee.Phone), userKey: nullString(inv.Invitee.UserID),
		inviterID: nullString(inv.Inviter.ID), idemKey: nullString(inv.IdempotencyKey),
		createdAt: dl.timeValue(utc(inv.CreatedAt)), expiresAt: dl.timeValue(utc(inv.ExpiresAt)),
		codeFailures: int64(c.CodeFailures),
	}
	if inv.Invitee.Email != "" {
		rw.emailKey = invite.EmailKey(inv.Invitee.Email) // as invite.Invitee.Keys has it
	}
	full, family := inv.NameKeys()
	rw.searchName, rw.searchFamily = nullString(full), nullString(family)
	if !inv.ClosedAt.IsZero() {
		rw.closedAt = dl.timeValue(utc(inv.ClosedAt))
	}
	if !c.TokenHash.IsZero() {
		rw.tokenHash = bytes.Clone(c.TokenHash[:])
		rw.hashes = append(rw.hashes, rw.tokenHash.([]byte))
	}
	if len(c.PreviousTokens) > 0 {
		prev := make([]prevTokenJSON, len(c.PreviousTokens))
		for i, p := range c.PreviousTokens {
			prev[i] = prevTokenJSON{Hash: hex.EncodeToString(p.Hash[:]), ExpiresAt: utc(p.ExpiresAt)}
			h := bytes.Clone(p.Hash[:])
			if !p.Hash.IsZero() && !containsHash(rw.hashes, h) {
				rw.hashes = append(rw.hashes, h)
			}
		}
		b, err := json.Marshal(prev)
		if err != nil { // an expiry beyond year 9999
			return row{}, []invite.FieldError{{Field: "Credentials.PreviousTokens", Reason: "does not encode as JSON: " + err.Error()}}
		}
		rw.prevTokens = string(b)
	}
	if len(c.CodeHash) > 0 {
		rw.codeHash = bytes.Clone(c.CodeHash)
	}
	if len(c.RequestDigest) > 0 {
		rw.requestDigest = bytes.Clone(c.RequestDigest)
	}
	return rw, nil
}

func containsHash(hs [][]byte, h []byte) bool {
	for _, x := range hs {
		if bytes.Equal(x, h) {
			return true
		}
	}
	return false
}

// hasNULEscape reports whether the JSON text b holds the escape \u0000 in a
// string (PostgreSQL's jsonb rejects it). It follows escapes, so an escaped
// backslash followed by "u0000" is not one.
func hasNULEscape(b []byte) bool {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return false // the usual case, found by a fast search
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}

// decodeRecord rebuilds a record from the columns recordColumns selects.
func decodeRecord(doc, tokenHash, prevTokens, codeHash []byte, codeFailures int64, requestDigest []byte) (*invite.Record, error) {
	r := &invite.Record{}
	if err := json.Unmarshal(doc, &r.Invitation); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	inv := &r.Invitation
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt, &inv.LastResentAt} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	if len(tokenHash) > 0 {
		if len(tokenHash) != len(r.Credentials.TokenHash) {
			return nil, errors.New("token_hash is " + strconv.Itoa(len(tokenHash)) + " bytes long")
		}
		copy(r.Credentials.TokenHash[:], tokenHash)
	}
	if len(prevTokens) > 0 {
		var prev []prevTokenJSON
		if err := json.Unmarshal(prevTokens, &prev); err != nil {
			return nil, fmt.Errorf("prev_tokens: %w", err)
		}
		r.Credentials.PreviousTokens = make([]invite.PreviousToken, len(prev))
		for i, p := range prev {
			h, err := hex.DecodeString(p.Hash)
			if err != nil || len(h) != len(invite.TokenHash{}) {
				return nil, errors.New("prev_tokens holds a malformed hash")
			}
			pt := &r.Credentials.PreviousTokens[i]
			copy(pt.Hash[:], h)
			pt.ExpiresAt = p.ExpiresAt.UTC()
		}
	}
	if len(codeHash) > 0 {
		r.Credentials.CodeHash = bytes.Clone(codeHash)
	}
	r.Credentials.CodeFailures = int(codeFailures)
	if len(requestDigest) > 0 {
		r.Credentials.RequestDigest = bytes.Clone(requestDigest)
	}
	return r, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanRecord scans the columns of recordColumns. A row that does not
// decode is an *Error naming op.
func scanRecord(op string, sc scanner) (*invite.Record, error) {
	var doc, tokenHash, prevTokens, codeHash, requestDigest []byte
	var codeFailures int64
	if err := sc.Scan(&doc, &tokenHash, &prevTokens, &codeHash, &codeFailures, &requestDigest); err != nil {
		return nil, wrap(op, err)
	}
	r, err := decodeRecord(doc, tokenHash, prevTokens, codeHash, codeFailures, requestDigest)
	if err != nil {
		return nil, &Error{Op: op, Err: fmt.Errorf("malformed invitation row: %w", err)}
	}
	return r, nil
}

// event is an outbox row, ready to bind: an event's (kind "event") or a
// message's (kind "message").
type event struct {
	id, kind, tenantID, invitationID, typ string
	payload                               string
	at, availableAt                       any
}

// eventColumns are the outbox columns an insert writes, in the order of
// event.appendValues.
var eventColumns = [...]string{"id", "kind", "tenant_id", "invitation_id", "type", "payload", "created_at", "available_at"}

// outboxColumns are eventColumns as a column list.
const outboxColumns = "id, kind, tenant_id, invitation_id, type, payload, created_at, available_at"

// appendValues appends the row's values to dst in the order of
// eventColumns.
func (e *event) appendValues(dst []any) []any {
	return append(dst, e.id, e.kind, e.tenantID, e.invitationID, e.typ, e.payload, e.at, e.availableAt)
}

// encodeEvent turns ev into an outbox row. The payload is the event's JSON:
// it carries the invitation before and after the change, never a secret
// or a hash of one (invite.Invitation holds none).
//
// newDoc, when not empty, is json.Marshal(ev.New), already encoded (and,
// on PostgreSQL, checked) as the document of a write of the same batch:
// the payload reuses it instead of encoding the invitation again. The
// payload is the same bytes either way (see marshalEvent).
func encodeEvent(dl dialect, i int, ev *invite.Event, newDoc string) (event, error) {
	field := func() string { return "Events[" + strconv.Itoa(i) + "]" }
	var fields []invite.FieldError
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{".ID", ev.ID, maxOutboxID}, {".TenantID", ev.TenantID, maxKeyBytes}, {".InvitationID", ev.InvitationID, maxKeyBytes}} {
		if p := textProblem(f.v, f.max); p != "" {
			fields = append(fields, invite.FieldError{Field: field() + f.name, Reason: p})
		}
	}
	if len(fields) > 0 {
		return event{}, &invite.ValidationError{Fields: fields}
	}
	payload, err := marshalEvent(ev, newDoc, dl.refusesNUL())
	if err != nil {
		if errors.Is(err, errNUL) {
			return event{}, invalid(field(), "holds U+0000 in a string, which PostgreSQL cannot store in jsonb")
		}
		return event{}, invalid(field(), "does not encode as JSON: "+err.Error())
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	t := dl.timeValue(at)
	return event{id: ev.ID, kind: string(invite.OutboxEvent), tenantID: ev.TenantID, invitationID: ev.InvitationID,
		typ: string(ev.Type), payload: payload, at: t, availableAt: t}, nil
}

// errNUL is marshalEvent's error for a \u0000 escape it was asked to refuse.
var errNUL = errors.New("holds U+0000")

// marshalEvent returns json.Marshal(ev) as a string; with noNUL, errNUL if
// it holds a \u0000 escape. With newDoc (json.Marshal(ev.New), already
// checked for \u0000 when noNUL), it encodes ev without Old and New and
// appends them, Old encoded and New as newDoc: json.Marshal writes the
// fields in order and Old and New are the last ones, omitted when nil
// (eventSplices checks that layout once).
func marshalEvent(ev *invite.Event, newDoc string, noNUL bool) (string, error) {
	if newDoc == "" || ev.New == nil || !eventSplices {
		b, err := json.Marshal(ev)
		if err != nil {
			return "", err
		}
		if noNUL && hasNULEscape(b) {
			return "", errNUL
		}
		return string(b), nil
	}
	head := *ev
	head.Old, head.New = nil, nil
	h, err := json.Marshal(&head)
	if err != nil {
		return "", err
	}
	var old []byte
	if ev.Old != nil {
		if old, err = json.Marshal(ev.Old); err != nil {
			return "", err
		}
	}
	if noNUL && (hasNULEscape(h) || hasNULEscape(old)) {
		return "", errNUL
	}
	var b strings.Builder
	b.Grow(len(h) + len(`,"old":`) + len(old) + len(`,"new":`) + len(newDoc) + 1)
	b.Write(h[:len(h)-1]) // without its closing brace
	if old != nil {
		b.WriteString(`,"old":`)
		b.Write(old)
	}
	b.WriteString(`,"new":`)
	b.WriteString(newDoc)
	b.WriteByte('}')
	return b.String(), nil
}

// eventSplices reports whether invite.Event encodes as marshalEvent
// assumes: a plain struct (no MarshalJSON) whose last two fields are
// Old and New, *invite.Invitation, tagged "old,omitempty" and
// "new,omitempty". Otherwise every payload is encoded whole.
var eventSplices = func() bool {
	t := reflect.TypeFor[invite.Event]()
	marshaler := reflect.TypeFor[json.Marshaler]()
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) || t.NumField() < 2 {
		return false
	}
	inv := reflect.TypeFor[*invite.Invitation]()
	o, n := t.Field(t.NumField()-2), t.Field(t.NumField()-1)
	return o.Name == "Old" && o.Type == inv && o.Tag.Get("json") == "old,omitempty" &&
		n.Name == "New" && n.Type == inv && n.Tag.Get("json") == "new,omitempty"
}()

// messageType is the type column of a message's outbox row.
const messageType = "message"

// messageJSON is the payload of a message's outbox row: the fields of
// invite.QueuedMessage that no column holds. (AvailableAt is kept here as
// queued: the row's available_at moves with every claim.)
type messageJSON struct {
	Resend      bool      `json:"resend"`
	ResendCount int       `json:"resend_count"`
	AvailableAt time.Time `json:"available_at"`
}

// encodeMessage turns m, the i-th message of a batch, into an outbox row.
// Its times are stored in UTC, truncated to microseconds; a zero CreatedAt
// is now, a zero AvailableAt its CreatedAt.
func encodeMessage(dl dialect, i int, m *invite.QueuedMessage) (event, []invite.FieldError) {
	field := "Messages[" + strconv.Itoa(i) + "]."
	var fields []invite.FieldError
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"ID", m.ID, maxOutboxID}, {"TenantID", m.TenantID, maxKeyBytes}, {"InvitationID", m.InvitationID, maxKeyBytes}} {
		if p := textProblem(f.v, f.max); p != "" {
			fields = append(fields, invite.FieldError{Field: field + f.name, Reason: p})
		}
	}
	if m.ResendCount < 0 {
		fields = append(fields, invite.FieldError{Field: field + "ResendCount", Reason: "must not be negative"})
	}
	created := m.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = utc(created)
	avail := utc(m.AvailableAt)
	if m.AvailableAt.IsZero() {
		avail = created
	}
	payload, err := json.Marshal(messageJSON{Resend: m.Resend, ResendCount: m.ResendCount, AvailableAt: avail})
	if err != nil { // a time beyond year 9999
		fields = append(fields, invite.FieldError{Field: field + "AvailableAt", Reason: "does not encode as JSON: " + err.Error()})
	}
	if len(fields) > 0 {
		return event{}, fields
	}
	return event{id: m.ID, kind: string(invite.OutboxMessage), tenantID: m.TenantID, invitationID: m.InvitationID,
		typ: messageType, payload: string(payload), at: dl.timeValue(created), availableAt: dl.timeValue(avail)}, nil
}

// The longest identifiers in bytes: an outbox id (the MySQL column is
// VARBINARY(255)), and a tenant or invitation id (VARBINARY(1024): 255
// characters of UTF-8).
const (
	maxOutboxID = 255
	maxKeyBytes = 1024
)

// textProblem returns why s cannot be stored as an identifier of at most
// max bytes, or "": it must be non-empty UTF-8 without a control character
// (PostgreSQL's text cannot hold U+0000).
func textProblem(s string, max int) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > max:
		return "is longer than " + strconv.Itoa(max) + " bytes"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}
