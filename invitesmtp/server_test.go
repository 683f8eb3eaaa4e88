package invitesmtp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// The test server's credentials.
const (
	testUser = "mailer"
	testPass = "s3cret pass"
)

// serverOpts configure a test server.
type serverOpts struct {
	// StartTLS offers STARTTLS; ImplicitTLS speaks TLS from the start.
	StartTLS, ImplicitTLS bool
	// Auth are the mechanisms offered (PLAIN, LOGIN, CRAM-MD5); when set,
	// MAIL FROM needs authentication.
	Auth []string
	// InsecureAuth allows AUTH without TLS.
	InsecureAuth bool
}

// received is a message the test server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	// Auth is the mechanism the session authenticated with.
	Auth string
	// TLS reports whether the session was encrypted.
	TLS bool
}

// testServer is an SMTP server on loopback that keeps what it receives.
type testServer struct {
	Host string
	Port int
	// Roots trusts the server's certificate.
	Roots *x509.CertPool

	srv      *smtp.Server
	mu       sync.Mutex
	mails    []received
	conns    []*smtp.Conn
	sessions atomic.Int32 // connections

	// Hooks, set before use: a non-nil error refuses the command. They
	// run on the server's goroutines.
	onMail func(from string) error
	onRcpt func(to string) error
	onData func(c *smtp.Conn, data []byte) error
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{Host: "127.0.0.1"}
	cert, roots := selfSigned(t)
	ts.Roots = roots
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ts.mu.Lock()
		if !slices.Contains(ts.conns, c) { // STARTTLS starts a new session on the connection
			ts.conns = append(ts.conns, c)
			ts.sessions.Add(1)
		}
		ts.mu.Unlock()
		return &session{ts: ts, c: c, opts: o}, nil
	}))
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = o.InsecureAuth
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = nopLogger{}
	if o.StartTLS {
		srv.TLSConfig = tlsConf
	}
	ts.srv = srv

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if o.ImplicitTLS {
		l = tls.NewListener(l, tlsConf)
	}
	ts.Port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // Close misses a listener Serve has not registered yet
		<-done
	})
	return ts
}

// Mails returns a copy of the messages received so far.
func (ts *testServer) Mails() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.mails...)
}

// DropAll closes every connection from the server's side.
func (ts *testServer) DropAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.conns {
		_ = c.Conn().Close()
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// session is one SMTP session of the test server.
type session struct {
	ts   *testServer
	c    *smtp.Conn
	opts serverOpts
	auth string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return s.opts.Auth }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != testUser || pass != testPass {
			return smtp.ErrAuthFailed
		}
		s.auth = mech
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case "LOGIN":
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{set: func() { s.auth = mech }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.opts.Auth) > 0 && s.auth == "" {
		return smtp.ErrAuthRequired
	}
	if f := s.ts.onMail; f != nil {
		if err := f(from); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := s.ts.onRcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if f := s.ts.onData; f != nil {
		if err := f(s.c, data); err != nil {
			return err
		}
	}
	_, tlsOn := s.c.TLSConnectionState()
	s.ts.mu.Lock()
	s.ts.mails = append(s.ts.mails, received{From: s.from, To: s.to, Data: data, Auth: s.auth, TLS: tlsOn})
	s.ts.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl has only the
// client).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // an initial response holds the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// cramServer is the server side of AUTH CRAM-MD5 (RFC 2195).
type cramServer struct {
	set       func()
	challenge string
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@mx.test>", time.Now().UnixNano(), 42)
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	mac := hmac.New(md5.New, []byte(testPass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if !ok || user != testUser || !hmac.Equal([]byte(digest), []byte(want)) {
		return nil, true, smtp.ErrAuthFailed
	}
	c.set()
	return nil, true, nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpErr is a reply the test server refuses a command with.
func smtpErr(code int, enhanced smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
}

// silentListener accepts connections and never answers: for timeouts.
func silentListener(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// newTLSConfig trusts ts's certificate.
func newTLSConfig(ts *testServer) *tls.Config {
	return &tls.Config{RootCAs: ts.Roots, MinVersion: tls.VersionTLS12}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}
