package server

// webRoutes registers the pages people see and the authorization
// endpoint (issue 6 fills this in).
func (s *Server) webRoutes() {}
