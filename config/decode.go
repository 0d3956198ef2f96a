package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// decodeYAML fills cfg from a YAML document, walking the document and the
// struct together so that each problem names its full key path
// ("tokens.access_ttl: ..."). Keys absent from the file keep their defaults.
func decodeYAML(data []byte, cfg *Config) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []string{"invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file: all defaults
	}
	var problems []string
	decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", &problems)
	return problems
}

func decodeNode(n *yaml.Node, v reflect.Value, path string, problems *[]string) {
	fail := func(format string, args ...any) {
		name := path
		if name == "" {
			name = "(top level)"
		}
		*problems = append(*problems, fmt.Sprintf("%s: line %d: %s", name, n.Line, fmt.Sprintf(format, args...)))
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			fail("want a duration such as 15m")
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			fail("want a duration such as 15m or 720h, got %q", n.Value)
			return
		}
		v.SetInt(int64(d))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail("want a mapping of keys")
			return
		}
		fields := yamlFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				// "? [a, b]\n: c": a key that no field can have.
				name := path
				if name == "" {
					name = "(top level)"
				}
				*problems = append(*problems, fmt.Sprintf("%s: line %d: a key must be a plain name, not a list or mapping", name, k.Line))
				continue
			}
			sub := joinPath(path, keyName(k.Value))
			idx, ok := fields[k.Value]
			switch {
			case !ok:
				*problems = append(*problems, fmt.Sprintf("%s: line %d: unknown key", sub, k.Line))
			case seen[k.Value]:
				*problems = append(*problems, fmt.Sprintf("%s: line %d: key given twice", sub, k.Line))
			default:
				decodeNode(val, v.Field(idx), sub, problems)
			}
			seen[k.Value] = true
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.SequenceNode {
			fail("want a list")
			return
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(v.Type())) // [] and an absent list mean the same
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			elem := s.Index(i)
			if elem.Kind() == reflect.Struct {
				// List items of structs start from zero values, not defaults.
				elem.Set(reflect.Zero(elem.Type()))
			}
			decodeNode(item, elem, fmt.Sprintf("%s[%d]", path, i), problems)
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			fail("want a single value")
			return
		}
		if err := setScalar(v, n.Value); err != nil {
			fail("%v", err)
		}
	}
}

// setScalar parses s into v, a string, bool, integer or duration.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 15m or 720h, got %q", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		v.SetInt(i)
	case reflect.Uint8, reflect.Uint32:
		u, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number from 0 to %d, got %q", uint64(1)<<v.Type().Bits()-1, s)
		}
		v.SetUint(u)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// yamlFields maps yaml key names to struct field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// keyName is a key of the file as a problem names it: as written when it
// is a plain name, Go-quoted otherwise, so that no key (one holding a
// newline, a colon or nothing at all) can break the one-line
// "key: reason" shape of the error that authd prints on stderr.
func keyName(k string) string {
	plain := k != "" && !strings.ContainsFunc(k, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
	if plain {
		return k
	}
	return strconv.Quote(k)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// applyEnv overrides keys from AUTHD_* variables: the key path in upper case
// joined by "_" (tokens.access_ttl → AUTHD_TOKENS_ACCESS_TTL). A list of
// values takes a comma-separated value (AUTHD_TOKENS_AUDIENCE=api,admin); a
// field of the i-th client takes its index (AUTHD_CLIENTS_0_SECRET).
func applyEnv(cfg *Config, getenv func(string) string) []string {
	var problems []string
	walkEnv(reflect.ValueOf(cfg).Elem(), "AUTHD", "", getenv, &problems)
	return problems
}

func walkEnv(v reflect.Value, env, path string, getenv func(string) string, problems *[]string) {
	if v.Kind() == reflect.Struct && v.Type() != durationType {
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			walkEnv(v.Field(i), env+"_"+strings.ToUpper(name), joinPath(path, name), getenv, problems)
		}
		return
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		for i := range v.Len() {
			walkEnv(v.Index(i), fmt.Sprintf("%s_%d", env, i), fmt.Sprintf("%s[%d]", path, i), getenv, problems)
		}
		return
	}
	s := getenv(env)
	if s == "" {
		return
	}
	if v.Kind() == reflect.Slice {
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
		return
	}
	if err := setScalar(v, s); err != nil {
		*problems = append(*problems, fmt.Sprintf("%s (from %s): %v", path, env, err))
	}
}
