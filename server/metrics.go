package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// countRequests records every request's route, method, status and latency.
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // the status below is the final one
		}
		s.metrics.Request(routeLabel(c), methodLabel(c.Request().Method), c.Response().Status, time.Since(start))
		return nil
	}
}

// methodLabel is the method as a metric label, from a fixed set: a label
// value made of whatever a client sends would add a series per distinct
// method, and every series stays in memory for good (an unauthenticated
// client could grow the process without bound).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// routeLabel is the matched route, or one label for every request that
// matched none (404s, unknown methods), whatever their path.
func routeLabel(c echo.Context) string {
	switch p := c.Path(); p {
	case "", "/*":
		return "unmatched"
	default:
		return p
	}
}
