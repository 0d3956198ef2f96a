package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// corsPublic lets any origin read public metadata (discovery, JWKS). No
// credentials are involved, so "*" is safe.
func corsPublic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if c.Request().Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Max-Age", "86400")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// corsAllowed lets the configured origins (exact match) call the API from
// a browser, without credentials mode: tokens travel in the Authorization
// header or the body, never in cookies, so no
// Access-Control-Allow-Credentials. Preflights from other origins get 204
// without CORS headers, which the browser treats as a refusal.
func corsAllowed(origins []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Add("Vary", "Origin")
			origin := c.Request().Header.Get("Origin")
			allowed := origin != "" && slices.Contains(origins, origin)
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, X-Request-Id")
			}
			if c.Request().Method == http.MethodOptions {
				if allowed {
					h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
					h.Set("Access-Control-Max-Age", "600")
				}
				return c.NoContent(http.StatusNoContent)
			}
			return next(c)
		}
	}
}

// route registers path for methods and for OPTIONS (the CORS preflight),
// all behind mw.
func route(e *echo.Echo, path string, h echo.HandlerFunc, methods []string, mw ...echo.MiddlewareFunc) {
	for _, m := range methods {
		e.Add(m, path, h, mw...)
	}
	e.OPTIONS(path, func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, mw...)
}
