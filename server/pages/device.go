package pages

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

// The device cookie marks a browser that signed in successfully before.
// It is a random secret, not a credential: it signs nobody in and is not
// tied to a session, so it outlives sign-outs. Its only use is at the
// sign-in form: a browser that signed in to an account lately (the
// account service remembers a hash of the secret per account, in memory,
// for throttle.SourcesTTL) hashes ahead of a flood of guesses and is not
// held back by the account's failure wait (see
// account.Service.AuthenticateDevice). It is set again at every successful
// sign-in, so it lasts as long as the memory of it.

func (s *Handlers) deviceCookieName() string {
	if s.web.https {
		return "__Host-authd_device"
	}
	return "authd_device"
}

// deviceSecret is the browser's device cookie, or a new secret when it has
// none (or a malformed one). A new secret reaches the browser only with a
// successful sign-in (setDeviceCookie).
func (s *Handlers) deviceSecret(c echo.Context) string {
	if ck, err := c.Cookie(s.deviceCookieName()); err == nil && token.WellFormedSecret(ck.Value) {
		return ck.Value
	}
	return token.Random(32)
}

// setDeviceCookie keeps secret in the browser for as long as the account
// service remembers it.
func (s *Handlers) setDeviceCookie(c echo.Context, secret string) {
	ck := s.cookie(s.deviceCookieName(), secret)
	ck.MaxAge = int(throttle.SourcesTTL / time.Second)
	ck.Expires = s.now().Add(throttle.SourcesTTL)
	c.SetCookie(ck)
}
