package server

import (
	"bytes"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// handleDiscovery serves /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server.
func (s *Server) handleDiscovery(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.discovery)
}

// handleJWKS serves the public keys, with an ETag honoured by 304.
func (s *Server) handleJWKS(c echo.Context) error {
	body, etag := s.keys.JWKS()
	h := c.Response().Header()
	h.Set("Cache-Control", s.jwksCacheControl)
	h.Set("ETag", etag)
	h.Set("Content-Type", echo.MIMEApplicationJSON)
	// ServeContent answers If-None-Match against the ETag set above (RFC
	// 9110 §13.1.2) with 304.
	http.ServeContent(c.Response(), c.Request(), "jwks.json", time.Time{}, bytes.NewReader(body))
	return nil
}
