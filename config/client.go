package config

import "strings"

// ClientProblems checks one client by the rules of the clients section,
// for clients registered at run time: it maps each field at fault (id,
// name, secret, grants, scopes, redirect_uris[N],
// post_logout_redirect_uris[N]) to what is wrong with it. The reserved ids
// (ReservedClientID, compat.client_id) are the caller's to check. Empty
// when the client is valid.
func ClientProblems(cl Client) map[string]string {
	c := Config{Clients: []Client{cl}}
	out := map[string]string{}
	for _, p := range c.validateClients() {
		field, problem, _ := strings.Cut(strings.TrimPrefix(p, "clients[0]."), ": ")
		if prev, ok := out[field]; ok {
			problem = prev + "; " + problem
		}
		out[field] = problem
	}
	return out
}
