package account_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
	"github.com/authd/authd/users"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is a mail.Sender that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) sent() []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// event is an audit event with its key/value pairs.
type event struct {
	name string
	kv   map[string]any
}

// harness is an account.Service over a real SQLite database, a real
// hasher at cheap parameters and a mailer that records, with its
// background workers running.
type harness struct {
	t        *testing.T
	svc      *account.Service
	db       *sqlite.DB
	view     *token.View
	sessions *session.Service
	clock    *clock
	mails    *recorder
	events   chan event
	// stopMail stops the reset worker and the mailer, after the mailer has
	// sent what was queued.
	stopMail func()
}

const addr = "192.0.2.7"

func newHarness(t *testing.T, mutate ...func(*config.Throttle)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	th := config.Default().Throttle
	for _, m := range mutate {
		m(&th)
	}
	h := &harness{t: t, db: db, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, mails: &recorder{}, events: make(chan event, 1000)}
	log := audit.New(nil, func(name string, kv []any) {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		h.events <- event{name, m}
	})
	h.view = token.NewView(time.Hour, time.Minute)
	h.sessions = session.New(db, h.view, log, h.clock.Now)
	mailer, err := mail.NewMailer(h.mails, mail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = account.New(account.Options{
		Store: db, Hasher: hasher, Sessions: h.sessions, Limits: throttle.NewLimits(th), Mailer: mailer,
		Audit: log, Now: h.clock.Now, Issuer: "https://id.example.com", ResetMailsPerHour: th.ResetMailsPerHour,
	})
	var wg sync.WaitGroup
	wg.Go(func() { h.svc.RunMail(ctx) })
	wg.Go(func() { _ = mailer.Run(ctx) })
	var once sync.Once
	h.stopMail = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(func() {
		h.stopMail()
		db.Close()
	})
	return h
}

// register creates an account through the service.
func (h *harness) register(username, email string) storage.User {
	h.t.Helper()
	u, err := h.svc.Create(context.Background(), account.Registration{Username: username, Email: email, Password: userPW}, "test")
	if err != nil {
		h.t.Fatalf("creating %s: %v", username, err)
	}
	return u
}

// userPW is the password of the users register creates.
const userPW = "correct horse battery 9"

// startSession stores a live session of u.
func (h *harness) startSession(u storage.User) string {
	h.t.Helper()
	now := h.clock.Now()
	sid := token.Random(16)
	err := h.sessions.Start(context.Background(), storage.Session{ID: sid, UserID: u.ID, ClientID: "c", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}, u)
	if err != nil {
		h.t.Fatal(err)
	}
	return sid
}

func (h *harness) user(id string) storage.User {
	h.t.Helper()
	u, err := h.db.GetUser(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *harness) live(u storage.User) int {
	h.t.Helper()
	list, err := h.db.ListSessions(context.Background(), u.ID, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return len(list)
}

// waitEvents waits for n audit events named name and returns them.
func (h *harness) waitEvents(name string, n int) []event {
	h.t.Helper()
	var got []event
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e := <-h.events:
			if e.name == name {
				got = append(got, e)
			}
		case <-timeout:
			h.t.Fatalf("%d of %d %s events within 10s", len(got), n, name)
		}
	}
	return got
}

// wantErr checks err's kind and, for each field named, its problem (a
// substring; "" for any).
func wantErr(t *testing.T, err error, kind errs.Kind, fields map[string]string) *errs.Error {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Fatalf("error %v, want an *errs.Error of kind %d", err, kind)
	}
	if e.Kind != kind {
		t.Errorf("kind %d, want %d (%v)", e.Kind, kind, err)
	}
	for f, problem := range fields {
		if got, ok := e.Fields[f]; !ok || !strings.Contains(got, problem) {
			t.Errorf("field %s: %q, want %q (all: %v)", f, got, problem, e.Fields)
		}
	}
	if len(e.Fields) != len(fields) {
		t.Errorf("fields %v, want exactly %v", e.Fields, fields)
	}
	return e
}

func TestRegisterValidation(t *testing.T) {
	h := newHarness(t, func(th *config.Throttle) { th.RegistrationsPerHour = 1000 })
	ctx := context.Background()
	h.register("taken", "taken@example.com")
	const good = "a good long password"
	long := strings.Repeat("x", users.MaxNameLen+1)
	tests := []struct {
		name   string
		in     account.Registration
		kind   errs.Kind
		fields map[string]string
		codes  map[string]string
	}{
		{"no username", account.Registration{Password: good}, errs.Invalid, map[string]string{"username": "may not be blank"}, nil},
		{"username with a control character", account.Registration{Username: "a\x07b", Password: good}, errs.Invalid, map[string]string{"username": "control or invisible"}, nil},
		{"username with surrounding space", account.Registration{Username: " ann", Password: good}, errs.Invalid, map[string]string{"username": "begin or end with a space"}, nil},
		{"username too long", account.Registration{Username: strings.Repeat("a", users.MaxUsernameLen+1), Password: good}, errs.Invalid, map[string]string{"username": "no more than 150 characters"}, nil},
		{"bad email", account.Registration{Username: "ann", Email: "not an email", Password: good}, errs.Invalid, map[string]string{"email": "valid email"}, nil},
		{"email with a display name", account.Registration{Username: "ann", Email: "Ann <ann@example.com>", Password: good}, errs.Invalid, map[string]string{"email": "valid email"}, nil},
		{"first name with an override character", account.Registration{Username: "ann", FirstName: "A\u202eB", Password: good}, errs.Invalid, map[string]string{"first_name": "control or invisible"}, nil},
		{"last name too long", account.Registration{Username: "ann", LastName: long, Password: good}, errs.Invalid, map[string]string{"last_name": "no more than 150"}, nil},
		{"no password", account.Registration{Username: "ann"}, errs.Invalid, map[string]string{"password": "at least 8 characters"}, map[string]string{"password": "too_short"}},
		{"short password", account.Registration{Username: "ann", Password: "short"}, errs.Invalid, map[string]string{"password": "at least 8 characters"}, map[string]string{"password": "too_short"}},
		{"long password", account.Registration{Username: "ann", Password: strings.Repeat("p", 257)}, errs.Invalid, map[string]string{"password": "at most 256 characters"}, map[string]string{"password": "too_long"}},
		{"common password", account.Registration{Username: "ann", Password: "password123"}, errs.Invalid, map[string]string{"password": "is too common"}, map[string]string{"password": "too_common"}},
		{"password like the username", account.Registration{Username: "annabelle", Password: "annabelle rocks 1"}, errs.Invalid, map[string]string{"password": "too similar"}, map[string]string{"password": "too_similar"}},
		{"password like the email", account.Registration{Username: "ann", Email: "zebediah@example.com", Password: "i am zebediah 1"}, errs.Invalid, map[string]string{"password": "too similar"}, map[string]string{"password": "too_similar"}},
		{"password with a control character", account.Registration{Username: "ann", Password: "a good\x00long password"}, errs.Invalid, map[string]string{"password": "control characters"}, map[string]string{"password": "control"}},
		{"every field at once", account.Registration{Username: " ", Email: "@", FirstName: "\x00", LastName: long, Password: "short"}, errs.Invalid,
			map[string]string{"username": "", "email": "", "first_name": "", "last_name": "", "password": ""}, nil},
		{"username taken, in another case", account.Registration{Username: "TAKEN", Password: good}, errs.Conflict, map[string]string{"username": "already taken"}, nil},
		{"email taken, in another case", account.Registration{Username: "ann", Email: "Taken@Example.com", Password: good}, errs.Conflict, map[string]string{"email": "already registered"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Register(ctx, tt.in, addr)
			e := wantErr(t, err, tt.kind, tt.fields)
			for f, code := range tt.codes {
				if e.FieldCodes[f] != code {
					t.Errorf("code of %s: %q, want %q", f, e.FieldCodes[f], code)
				}
			}
			if tt.in.Username != "" && !strings.EqualFold(tt.in.Username, "taken") {
				if _, err := h.db.GetUserByUsername(ctx, tt.in.Username); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("a refused registration stored a user (lookup: %v)", err)
				}
			}
		})
	}
	// And a valid one goes through, with the values normalised.
	u, err := h.svc.Register(ctx, account.Registration{Username: "Ann", Email: "ann@example.com", FirstName: "Ann", Password: good}, addr)
	if err != nil {
		t.Fatalf("a valid registration: %v", err)
	}
	if u.Username != "Ann" || u.Email != "ann@example.com" || u.FirstName != "Ann" || u.PK == 0 || u.EmailVerified {
		t.Errorf("registered %+v", u)
	}
}

// Reset mails are capped per account; the requests past the cap answer
// the same but send nothing.
func TestResetMailCap(t *testing.T) {
	h := newHarness(t, func(th *config.Throttle) { th.ResetMailsPerHour = 2 })
	ctx := context.Background()
	u := h.register("rita", "rita@example.com")
	for range 4 {
		if err := h.svc.RequestReset(ctx, "RITA@example.com", addr); err != nil {
			t.Fatal(err)
		}
	}
	sent, capped := 0, 0
	for _, e := range h.waitEvents("password.reset_requested", 4) {
		switch {
		case e.kv["sent"] == true:
			sent++
		case e.kv["reason"] == "rate_limited":
			capped++
		default:
			t.Errorf("unexpected event %v", e.kv)
		}
	}
	if sent != 2 || capped != 2 {
		t.Errorf("%d sent, %d capped; want 2 and 2", sent, capped)
	}
	// An hour on, the cap has room again.
	h.clock.Advance(time.Hour + time.Second)
	if err := h.svc.RequestReset(ctx, "rita@example.com", addr); err != nil {
		t.Fatal(err)
	}
	if e := h.waitEvents("password.reset_requested", 1)[0]; e.kv["sent"] != true {
		t.Errorf("after an hour: %v, want sent", e.kv)
	}
	h.stopMail()
	msgs := h.mails.sent()
	if len(msgs) != 3 {
		t.Fatalf("%d mails sent, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.To != u.Email || !strings.Contains(m.Text, "https://id.example.com/password/reset?") {
			t.Errorf("mail to %s: %q", m.To, m.Text)
		}
	}
}

// A disabled account gets no reset mail and no reset token; an unknown
// address none either, and the caller is told the same.
func TestResetRequestSendsNothingToDisabledUser(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("dora", "dora@example.com")
	if err := h.svc.SetDisabled(ctx, u, true, "test"); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"dora@example.com", "nobody@example.com"} {
		if err := h.svc.RequestReset(ctx, email, addr); err != nil {
			t.Fatalf("RequestReset(%s) = %v, want nil whatever the address", email, err)
		}
	}
	evs := h.waitEvents("password.reset_requested", 2)
	if evs[0].kv["reason"] != "disabled" || evs[0].kv["sent"] != false {
		t.Errorf("disabled user: %v", evs[0].kv)
	}
	if evs[1].kv["known"] != false {
		t.Errorf("unknown address: %v", evs[1].kv)
	}
	h.stopMail()
	if n := len(h.mails.sent()); n != 0 {
		t.Errorf("%d mails sent, want none", n)
	}
	n, err := h.db.CountOneTimeTokens(ctx, u.ID, storage.PurposeReset, time.Time{})
	if err != nil || n != 0 {
		t.Errorf("reset tokens of the disabled user: %d, %v; want none", n, err)
	}
}

// A reset link mailed before the account was disabled no longer works, and
// the password stays as it was.
func TestResetTokenOfDisabledUser(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("vic", "vic@example.com")
	if err := h.svc.RequestReset(ctx, u.Email, addr); err != nil {
		t.Fatal(err)
	}
	h.waitEvents("password.reset_requested", 1)
	h.stopMail()
	msgs := h.mails.sent()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	tok := linkToken(t, msgs[0].Text)
	if err := h.svc.SetDisabled(ctx, u, true, "test"); err != nil {
		t.Fatal(err)
	}
	err := h.svc.ConfirmReset(ctx, tok, "a whole new password", addr)
	if err != account.ErrBadResetLink {
		t.Errorf("ConfirmReset for a disabled user = %v, want ErrBadResetLink", err)
	}
	if h.user(u.ID).PasswordHash != u.PasswordHash {
		t.Error("the disabled user's password changed")
	}
}

// linkToken is the token query parameter of the first link in text.
func linkToken(t *testing.T, text string) string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "token=")
	if !ok {
		t.Fatalf("no token in %q", text)
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r == '&' || r == '\n' || r == '\r' || r == ' ' || r == '"' })
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

func TestUpdateProfileEmailConflict(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.register("una", "una@example.com")
	u := h.register("uri", "uri@example.com")
	email := "UNA@example.com"
	_, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Email: &email, CurrentPassword: userPW})
	wantErr(t, err, errs.Conflict, map[string]string{"email": "already registered"})
	if got := h.user(u.ID); got.Email != "uri@example.com" {
		t.Errorf("email is now %q", got.Email)
	}
}

// Changes of username or email are limited per user (each one tells
// whether a value is taken); other profile changes are not.
func TestProfileChangeRateLimit(t *testing.T) {
	h := newHarness(t, func(th *config.Throttle) { th.RegistrationsPerHour = 2 })
	ctx := context.Background()
	u := h.register("rex", "")
	for i, name := range []string{"rex2", "rex3"} {
		if _, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &name, CurrentPassword: userPW}); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	name := "rex4"
	_, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &name, CurrentPassword: userPW})
	e := wantErr(t, err, errs.TooMany, nil)
	if e.RetryAfter <= 0 || e.RetryAfter > time.Hour {
		t.Errorf("RetryAfter %s, want within the hour", e.RetryAfter)
	}
	email := "rex@example.com"
	_, err = h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Email: &email, CurrentPassword: userPW})
	wantErr(t, err, errs.TooMany, nil)
	first := "Rex"
	if _, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{FirstName: &first}); err != nil {
		t.Errorf("a name change past the limit: %v", err)
	}
	if got := h.user(u.ID); got.Username != "rex3" || got.Email != "" || got.FirstName != "Rex" {
		t.Errorf("user is now %+v", got)
	}
}

func TestUsernameChangeNeedsCurrentPassword(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("ned", "ned@example.com")
	name, email := "ned2", "ned2@example.com"
	_, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &name})
	wantErr(t, err, errs.Invalid, map[string]string{"current_password": "is required to change the username"})
	_, err = h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Email: &email})
	wantErr(t, err, errs.Invalid, map[string]string{"current_password": "is required to change the email address"})
	_, err = h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &name, CurrentPassword: "not the password"})
	wantErr(t, err, errs.Invalid, map[string]string{"current_password": "is incorrect"})
	if got := h.user(u.ID); got.Username != "ned" || got.Email != "ned@example.com" {
		t.Fatalf("changed without the password: %+v", got)
	}
	// The same name in another case is no change and needs nothing.
	same := "ned"
	if _, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &same}); err != nil {
		t.Errorf("keeping the username: %v", err)
	}
	got, err := h.svc.UpdateProfile(ctx, u.ID, account.ProfilePatch{Username: &name, CurrentPassword: userPW})
	if err != nil || got.Username != "ned2" {
		t.Errorf("with the password: %+v, %v", got, err)
	}
}

// A password change whose session ended meanwhile (a reset, a sign-out
// everywhere) fails and changes nothing.
func TestChangePasswordAfterSessionEnded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("cal", "")
	sid := h.startSession(u)
	if err := h.svc.SignOutEverywhere(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	err := h.svc.ChangePassword(ctx, u, sid, userPW, "a whole new password")
	wantErr(t, err, errs.Invalid, map[string]string{"old_password": "no longer current"})
	if h.user(u.ID).PasswordHash != u.PasswordHash {
		t.Error("the password changed")
	}

	// A change checked against a hash an operator has replaced since
	// fails too, and the operator's password stays.
	if err := h.svc.SetPassword(ctx, u, "the operator's password", "test"); err != nil {
		t.Fatal(err)
	}
	set := h.user(u.ID).PasswordHash
	sid = h.startSession(h.user(u.ID))
	err = h.svc.ChangePassword(ctx, u, sid, userPW, "a whole new password")
	wantErr(t, err, errs.Invalid, map[string]string{"old_password": "no longer current"})
	if h.user(u.ID).PasswordHash != set {
		t.Error("a stale change replaced the operator's password")
	}

	// With a live session and the current hash it works, and ends every
	// other session.
	cur := h.user(u.ID)
	other := h.startSession(cur)
	if err := h.svc.ChangePassword(ctx, cur, sid, "the operator's password", "a whole new password"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if !h.view.Dead(other, "") || h.view.Dead(sid, "") || h.live(u) != 1 {
		t.Errorf("other session dead %v, own dead %v, %d live; want true, false, 1", h.view.Dead(other, ""), h.view.Dead(sid, ""), h.live(u))
	}
	if _, err := h.svc.Authenticate(ctx, "cal", "a whole new password", addr); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// An operator's password goes through the whole policy.
func TestSetPasswordPolicy(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("sal", "salvador@example.com")
	for pw, problem := range map[string]string{
		"password123":         "is too common",
		"short":               "must be at least 8 characters",
		"sal sal sal sal":     "is too similar",
		"salvador is my pw":   "is too similar",
		"bell\x07 password 1": "control characters",
	} {
		err := h.svc.SetPassword(ctx, u, pw, "test")
		wantErr(t, err, errs.Invalid, map[string]string{"password": problem})
	}
	if h.user(u.ID).PasswordHash != u.PasswordHash {
		t.Fatal("a refused password was stored")
	}
	h.startSession(u)
	if err := h.svc.SetPassword(ctx, u, "a fine new password", "test"); err != nil {
		t.Fatal(err)
	}
	if h.live(u) != 0 {
		t.Errorf("%d sessions live after set-password, want 0", h.live(u))
	}
	if _, err := h.svc.Authenticate(ctx, "sal", "a fine new password", addr); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

func TestSetDisabledEndsSessions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.register("dan", "")
	a, b := h.startSession(u), h.startSession(u)
	if err := h.svc.SetDisabled(ctx, u, true, "test"); err != nil {
		t.Fatal(err)
	}
	if h.live(u) != 0 || !h.view.Dead(a, "") || !h.view.Dead(b, "") {
		t.Errorf("after disabling: %d live, dead %v %v; want 0, true, true", h.live(u), h.view.Dead(a, ""), h.view.Dead(b, ""))
	}
	if _, err := h.svc.Authenticate(ctx, "dan", userPW, addr); !account.IsBadCredentials(err) {
		t.Errorf("a disabled user logs in: %v", err)
	}
	if err := h.svc.SetDisabled(ctx, u, false, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Authenticate(ctx, "dan", userPW, addr); err != nil {
		t.Errorf("enabled again: %v", err)
	}
	wantErr(t, h.svc.SetDisabled(ctx, storage.User{ID: "u_nobody"}, true, "test"), errs.NotFound, nil)
}
