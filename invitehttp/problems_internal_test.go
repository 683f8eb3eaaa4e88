package invitehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

var errRetryable = errors.New("store: try again")

// The status table of the package documentation, error by error.
func TestStatusTable(t *testing.T) {
	h := &handler{cfg: Config{ProblemTypeBase: DefaultProblemTypeBase, RetryAfter: 2 * time.Second,
		Retryable: func(err error) bool { return errors.Is(err, errRetryable) }}}
	transition := func(from invite.State) error {
		return &invite.TransitionError{ID: "x", Op: invite.OpAccept, From: from, To: invite.StateAccepted}
	}
	for _, tc := range []struct {
		err    error
		ec     errorContext
		status int
		kind   string
	}{
		{&invite.ValidationError{Fields: []invite.FieldError{{Field: "Invitee.Email", Reason: "is not an email", Code: invite.CodeInvalidFormat}}}, errorContext{}, 422, "validation"},
		{ErrUnauthenticated, errorContext{}, 401, "unauthenticated"},
		{fmt.Errorf("session: %w", ErrForbidden), errorContext{}, 403, "forbidden"},
		{invite.ErrNotFound, errorContext{}, 404, "not-found"},
		{fmt.Errorf("x: %w", invite.ErrInvalidToken), errorContext{public: true}, 404, "invalid-token"},
		{&invite.ExistsError{TenantID: "acme", ID: "inv-1"}, errorContext{}, 409, "already-exists"},
		{invite.ErrAlreadyExists, errorContext{}, 409, "already-exists"},
		{invite.ErrConflict, errorContext{}, 409, "version-conflict"},
		{invite.ErrConflict, errorContext{ifMatch: true}, 412, "precondition-failed"},
		{&invite.QuotaError{Limit: 3}, errorContext{}, 409, "quota-exceeded"},
		{invite.ErrIdempotencyMismatch, errorContext{}, 422, "idempotency-mismatch"},
		{transition(invite.StateExpired), errorContext{}, 410, "expired"},
		{transition(invite.StateAccepted), errorContext{}, 410, "already-accepted"},
		{transition(invite.StateRevoked), errorContext{}, 410, "revoked"},
		{transition(invite.StateRejected), errorContext{}, 409, "invalid-transition"},
		{transition(invite.StateRejected), errorContext{public: true}, 410, "rejected"},
		{&invite.TransitionError{Op: invite.OpMarkSent, From: invite.StateSent}, errorContext{}, 409, "invalid-transition"},
		{invite.ErrExpired, errorContext{}, 410, "expired"},
		{invite.ErrAlreadyAccepted, errorContext{}, 410, "already-accepted"},
		{invite.ErrEmailMismatch, errorContext{public: true}, 403, "email-mismatch"},
		{invite.ErrSubjectMismatch, errorContext{public: true}, 403, "subject-mismatch"},
		{invite.ErrInvalidCode, errorContext{public: true}, 400, "invalid-code"},
		{invite.ErrCodeLocked, errorContext{public: true}, 400, "invalid-code"},
		{invite.ErrNoCounter, errorContext{}, 501, "not-implemented"},
		{invite.ErrNoOutbox, errorContext{}, 501, "not-implemented"},
		{fmt.Errorf("sqlstore: apply: %w", errRetryable), errorContext{}, 503, "unavailable"},
		{context.DeadlineExceeded, errorContext{}, 503, "unavailable"},
		{errors.New(`pq: relation "invite_invitations" does not exist (SELECT secret FROM tenant-b)`), errorContext{}, 500, "internal"},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.kind), func(t *testing.T) {
			p := h.classify(tc.err, tc.ec)
			require.Equal(t, tc.status, p.Status)
			require.Equal(t, DefaultProblemTypeBase+tc.kind, p.Type)
			require.Equal(t, tc.status, ProblemTypes()[tc.kind])
			require.NotEmpty(t, p.Title)
			require.NotEmpty(t, p.Detail)
			require.NotContains(t, p.Detail, "invite:")
			require.NotContains(t, p.Detail, "inv-1")
			require.NotContains(t, p.Detail, "SELECT")
			if tc.status == 503 {
				require.Equal(t, 2*time.Second, p.retryAfter)
			}
		})
	}
}

func TestProblemResponse(t *testing.T) {
	var logs strings.Builder
	h := &handler{cfg: Config{ProblemTypeBase: "https://errors.example/", RetryAfter: 1500 * time.Millisecond, Challenge: "Bearer realm=\"api\""}}
	h.cfg.Logger = newTextLogger(&logs)
	for _, tc := range []struct {
		err     error
		headers map[string]string
	}{
		{ErrUnauthenticated, map[string]string{"WWW-Authenticate": `Bearer realm="api"`}},
		{context.DeadlineExceeded, map[string]string{"Retry-After": "2"}},
		{errors.New("db down: password=hunter2"), nil},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		h.writeError(w, r, tc.err, errorContext{})
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		for k, v := range tc.headers {
			require.Equal(t, v, w.Header().Get(k))
		}
		require.True(t, strings.HasPrefix(w.Body.String(), `{"type":"https://errors.example/`))
		require.NotContains(t, w.Body.String(), "hunter2")
	}
	require.Contains(t, logs.String(), "db down", "a 5xx is logged for the operator")
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// problems.md, where the type URIs lead, documents every kind under its
// name and nothing else.
func TestProblemsDocumented(t *testing.T) {
	doc, err := os.ReadFile("problems.md")
	require.NoError(t, err)
	var headings []string
	for line := range strings.Lines(string(doc)) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "## "); ok {
			headings = append(headings, name)
			require.Contains(t, string(doc), "## "+name+"\n"+strconv.Itoa(ProblemTypes()[name])+".", name)
		}
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(ProblemTypes())), headings)
}
