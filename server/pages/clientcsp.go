package pages

// pageCSP is the Content-Security-Policy of the pages. Its form-action
// lists the origins of every client's redirect URIs, and clients can be
// registered at run time: it is computed again whenever the registry has
// read the stored clients anew.
func (s *Handlers) pageCSP() string {
	w := s.web
	gen := s.oauth.Clients().Generation()
	w.cspMu.Lock()
	defer w.cspMu.Unlock()
	if gen != w.cspGen {
		w.csp, w.cspGen = s.contentSecurityPolicy(), gen
	}
	return w.csp
}
