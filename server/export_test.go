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
