package server

// RouteList lists the method and path (in echo's syntax, :param) of every
// registered route, for the test that keeps the OpenAPI document true.
func (s *Server) RouteList() [][2]string {
	var out [][2]string
	for _, r := range s.echo.Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// SetSweepBatch makes each batch of Sweep delete at most n rows of each
// kind, so a test needs few rows to make it run several batches. Call it
// before the sweep worker can run.
func (s *Server) SetSweepBatch(n int) { s.sweepBatch = n }
