package storage

import "testing"

func TestUsernameKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"Alice", "alice", true},
		{"Alice", "ALICE", true},
		{"Alice", "Ａｌｉｃｅ", true},        // fullwidth
		{"Zo\u00eb", "Zoe\u0308", true}, // composed and decomposed ë
		{"straße", "STRASSE", true},     // full case folding
		{"ﬁsh", "fish", true},           // compatibility ligature
		{"alice", "alice2", false},
		{"alice", "alíce", false},
		{"bob", "b ob", false},
	}
	for _, tt := range tests {
		ka, kb := UsernameKey(tt.a), UsernameKey(tt.b)
		if (ka == kb) != tt.same {
			t.Errorf("UsernameKey(%q) = %q, UsernameKey(%q) = %q; want equal: %v", tt.a, ka, tt.b, kb, tt.same)
		}
	}
}

func TestEmailKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.COM", "alice@example.com"},
		{"  alice@example.com\t", "alice@example.com"},
		{"J\u00f6rg@example.com", "j\u00f6rg@example.com"},
		{"Jo\u0308rg@example.com", "j\u00f6rg@example.com"}, // NFC
	}
	for _, tt := range tests {
		if got := EmailKey(tt.in); got != tt.want {
			t.Errorf("EmailKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
