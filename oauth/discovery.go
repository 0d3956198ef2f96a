package oauth

import (
	"encoding/json"
	"slices"
)

// discovery is the provider metadata of OpenID Connect Discovery 1.0 §3 and
// RFC 8414 §2 (one document serves both).
type discovery struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint,omitempty"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenSigningAlgValuesSupported      []string `json:"access_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: authorization responses
	// carry iss (RFC 9207 §3).
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	ClaimsSupported                            []string `json:"claims_supported"`
	UserinfoSigningAlgValuesSupported          []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
}

// signingAlgs are the algorithms authd signs with. Both are advertised
// whatever keys.algorithm says, because a rotation with --alg can switch
// between them without a restart.
var signingAlgs = []string{"RS256", "EdDSA"}

// Discovery is the provider metadata document, computed once at start-up.
// Its scopes_supported lists the scopes of the configured clients only: the
// document is cached by relying parties and not recomputed when a client is
// registered at run time. The operators' scope (ScopeAdmin) is not
// advertised.
func (s *Service) Discovery() ([]byte, error) {
	iss := s.cfg.Issuer
	scopes := []string{"openid", "profile", "email", "offline_access"}
	grants := GrantTypes()
	for _, id := range s.clients.configIDs() {
		c, _ := s.clients.Get(id)
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) && sc != ScopeAdmin {
				scopes = append(scopes, sc)
			}
		}
	}
	slices.Sort(scopes[4:])
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	d := discovery{
		Issuer:                iss,
		TokenEndpoint:         iss + "/oauth2/token",
		UserinfoEndpoint:      iss + "/userinfo",
		JWKSURI:               iss + "/.well-known/jwks.json",
		RevocationEndpoint:    iss + "/oauth2/revoke",
		IntrospectionEndpoint: iss + "/oauth2/introspect",
		ScopesSupported:       scopes,
		AuthorizationEndpoint: iss + "/oauth2/authorize",
		EndSessionEndpoint:    iss + "/oauth2/logout",
		// The code flow only (RFC 9700 §2.1.2: no implicit grant), its
		// response in the query, PKCE with S256 only (RFC 7636 §4.2: plain
		// is refused).
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
		GrantTypesSupported:                        grants,
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           signingAlgs,
		AccessTokenSigningAlgValuesSupported:       signingAlgs,
		TokenEndpointAuthMethodsSupported:          authMethods,
		RevocationEndpointAuthMethodsSupported:     authMethods,
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid",
			"preferred_username", "name", "given_name", "family_name", "updated_at",
			"email", "email_verified",
		},
	}
	return json.MarshalIndent(d, "", "  ")
}
