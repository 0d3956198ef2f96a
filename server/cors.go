package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// corsPublic lets any origin read public metadata (discovery, JWKS). No
// credentials are involved, so "*" is safe.
var corsPublic = middleware.CORSWithConfig(middleware.CORSConfig{
	AllowOrigins: []string{"*"},
	AllowMethods: []string{http.MethodGet, http.MethodOptions},
	MaxAge:       86400,
})

// corsAllowed lets the configured origins (exact match: echo's own origin
// list would also take wildcards and subdomains) call the API from a
// browser, without credentials mode: tokens travel in the Authorization
// header or the body, never in cookies, so no
// Access-Control-Allow-Credentials. Preflights from other origins get 204
// without CORS headers, which the browser treats as a refusal.
func corsAllowed(origins []string) echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) { return slices.Contains(origins, origin), nil },
		AllowMethods:    []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions},
		AllowHeaders:    []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposeHeaders:   []string{"WWW-Authenticate", "Retry-After", "X-Request-Id"},
		MaxAge:          600,
	})
}
