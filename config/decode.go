package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// origins records where each key's value came from, so that a problem
// found later, by Validate, can point at it.
type origins struct {
	line map[string]int    // key path → line of its value in the file
	env  map[string]string // key path → the variable that set it
	bad  map[string]bool   // key paths whose value was refused as it was read
}

func newOrigins() *origins {
	return &origins{line: map[string]int{}, env: map[string]string{}, bad: map[string]bool{}}
}

// where says where the value of key came from, as a problem writes it
// after the key: "line 12", "(from AUTHD_X)", or "" for a default. A
// variable that set the key or a list or section above it wins, since the
// environment is read after the file; otherwise the nearest line.
func (o *origins) where(key string) string {
	line := 0
	for p := key; p != ""; p = parentPath(p) {
		if env, ok := o.env[p]; ok {
			return "(from " + env + ")"
		}
		if l, ok := o.line[p]; ok && line == 0 {
			line = l
		}
	}
	if line > 0 {
		return fmt.Sprintf("line %d", line)
	}
	return ""
}

// refused reports whether key, or a list or section above it, was
// refused as it was read: a problem Validate finds there comes from the
// default left in its place and says nothing new.
func (o *origins) refused(key string) bool {
	for p := key; p != ""; p = parentPath(p) {
		if o.bad[p] {
			return true
		}
	}
	return false
}

// parentPath drops the last element of a key path: a.b[2].c → a.b[2] →
// a.b → a → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// decodeYAML fills cfg from a YAML document, walking the document and the
// struct together so that each problem names its full key path
// ("tokens.access_ttl: ..."). Keys absent from the file keep their defaults;
// so do values of the wrong type, after their problem is recorded, and
// decoding goes on with the rest of the file.
func decodeYAML(data []byte, cfg *Config, o *origins) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []string{"invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file: all defaults
	}
	var problems []string
	decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", &problems, o)
	return problems
}

func decodeNode(n *yaml.Node, v reflect.Value, path string, problems *[]string, o *origins) {
	fail := func(format string, args ...any) {
		name := path
		if name == "" {
			name = "(top level)"
		}
		o.bad[path] = true
		*problems = append(*problems, fmt.Sprintf("%s: line %d: %s", name, n.Line, fmt.Sprintf(format, args...)))
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		o.line[path] = n.Line
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
				decodeNode(val, v.Field(idx), sub, problems, o)
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
			decodeNode(item, elem, fmt.Sprintf("%s[%d]", path, i), problems, o)
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
// field of the i-th client takes its index (AUTHD_CLIENTS_0_SECRET). It
// returns the problems and every variable name that sets a key.
func applyEnv(cfg *Config, getenv func(string) string, o *origins) (problems []string, names *envNames) {
	names = &envNames{known: map[string]bool{}}
	walkEnv(reflect.ValueOf(cfg).Elem(), "AUTHD", "", getenv, &problems, o, names)
	return problems, names
}

// envNames are the variables that name a key of a configuration.
type envNames struct {
	known map[string]bool
	lists []envList // lists of sections, such as clients
}

// envList is a list of sections: AUTHD_CLIENTS_<i>_<FIELD>.
type envList struct {
	prefix string          // AUTHD_CLIENTS_
	path   string          // clients
	len    int             // how many the configuration has
	fields map[string]bool // SECRET, REDIRECT_URIS…
}

func walkEnv(v reflect.Value, env, path string, getenv func(string) string, problems *[]string, o *origins, names *envNames) {
	if v.Kind() == reflect.Struct && v.Type() != durationType {
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			walkEnv(v.Field(i), env+"_"+strings.ToUpper(name), joinPath(path, name), getenv, problems, o, names)
		}
		return
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		l := envList{prefix: env + "_", path: path, len: v.Len(), fields: map[string]bool{}}
		for _, f := range envLeaves(v.Type().Elem(), "") {
			l.fields[f] = true
		}
		names.lists = append(names.lists, l)
		for i := range v.Len() {
			walkEnv(v.Index(i), fmt.Sprintf("%s_%d", env, i), fmt.Sprintf("%s[%d]", path, i), getenv, problems, o, names)
		}
		return
	}
	names.known[env] = true
	s := getenv(env)
	if s == "" {
		return
	}
	o.env[path] = env
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
		o.bad[path] = true
		*problems = append(*problems, fmt.Sprintf("%s (from %s): %v", path, env, err))
	}
}

// envLeaves lists the variable suffixes of the leaf keys of t, a section.
func envLeaves(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, envLeaves(ft, prefix+strings.ToUpper(name)+"_")...)
			continue
		}
		out = append(out, prefix+strings.ToUpper(name))
	}
	return out
}

// unknown returns a problem for every AUTHD_ variable in vars that names
// no key, but for those in allowed.
func (n *envNames) unknown(vars []string, allowed []string) []string {
	var problems []string
	for _, name := range vars {
		if !strings.HasPrefix(name, "AUTHD_") || n.known[name] || slices.Contains(allowed, name) {
			continue
		}
		problems = append(problems, name+": "+n.why(name))
	}
	return problems
}

// why explains what is wrong with name, which names no key.
func (n *envNames) why(name string) string {
	for _, l := range n.lists {
		idx, field, ok := strings.Cut(strings.TrimPrefix(name, l.prefix), "_")
		if !strings.HasPrefix(name, l.prefix) || !ok || !l.fields[field] {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || strconv.Itoa(i) != idx {
			break
		}
		return fmt.Sprintf("there is no %s[%d] to set: the configuration has %d (%s[0] to %s[%d])", l.path, i, l.len, l.path, l.path, max(l.len-1, 0))
	}
	msg := "names no configuration key"
	if best := n.closest(name); best != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", best)
	}
	return msg
}

// closest returns the known variable nearest to name by edit distance, if
// one is near enough to be a typo of it.
func (n *envNames) closest(name string) string {
	const limit = 3 // a typo is at most two edits away
	best, bestD := "", limit
	for k := range n.known {
		d := editDistance(name, k, limit)
		if d < bestD || (d == bestD && d < limit && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (ASCII), or limit
// when it is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
