package mixin

import (
	"bytes"
	"embed"
	"encoding"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// A configuration file overrides fields of Config. Its keys are the Go field names in
// lowerCamel case (NoReplicasReadyFor is noReplicasReadyFor, PVCPendingThreshold is
// pvcPendingThreshold), derived by reflection so that every field of Config is settable
// without further code; durations are Prometheus duration strings such as "15m" or "1h30m".
// Keys left out keep their value. docs/mixin-config.md lists the keys.

// sources holds this package's Go files, whose comments document the keys.
//
//go:embed *.go
var sources embed.FS

var durationType = reflect.TypeFor[time.Duration]()

// scalarTags are the YAML tags a value of a type name may have.
var scalarTags = map[string][]string{
	"boolean": {"!!bool"},
	"integer": {"!!int"},
	"number":  {"!!int", "!!float"},
}

// LoadConfigFile reads the YAML configuration file at path over DefaultConfig() and
// validates the result.
func LoadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("mixin: %w", err)
	}
	c, err := ParseConfig(data, DefaultConfig())
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig applies the YAML configuration data over base and validates the result.
// An unknown key is an error naming the valid ones.
func ParseConfig(data []byte, base Config) (Config, error) {
	c, err := decodeConfig(data, base)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeConfig is ParseConfig without the validation.
func decodeConfig(data []byte, base Config) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("mixin: config: %w", err)
	}
	c := base
	if len(doc.Content) > 0 { // an empty document changes nothing
		if err := decodeValue(doc.Content[0], reflect.ValueOf(&c).Elem(), ""); err != nil {
			return Config{}, fmt.Errorf("mixin: config: %w", err)
		}
	}
	return c, nil
}

// ConfigYAML renders c as a configuration file that ParseConfig reads back to c, every
// key in field order. With comments, each key is preceded by its Go doc comment.
func ConfigYAML(c Config, comments bool) ([]byte, error) {
	node, err := encodeValue(reflect.ValueOf(c))
	if err != nil {
		return nil, fmt.Errorf("mixin: config: %w", err)
	}
	if comments {
		keys, err := ConfigKeys()
		if err != nil {
			return nil, err
		}
		addComments(node, "", keys)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, fmt.Errorf("mixin: config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("mixin: config: %w", err)
	}
	return buf.Bytes(), nil
}

// ConfigJSON renders c as one JSON object with the keys of a configuration file, in field
// order (also a Jsonnet object).
func ConfigJSON(c Config) ([]byte, error) {
	node, err := encodeValue(reflect.ValueOf(c))
	if err != nil {
		return nil, fmt.Errorf("mixin: config: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, node, ""); err != nil {
		return nil, fmt.Errorf("mixin: config: %w", err)
	}
	return buf.Bytes(), nil
}

// ConfigKey describes one key of a configuration file.
type ConfigKey struct {
	Key     string // dotted for the fields of a nested struct
	Field   string // Go field path in Config, e.g. NoReplicasReadyFor
	Type    string // as written in YAML: string, boolean, integer, number, duration, …
	Default string // DefaultConfig()'s value as YAML
	Doc     string // the field's Go doc and line comments, one paragraph
}

// ConfigKeys lists every key of a configuration file in field order.
func ConfigKeys() ([]ConfigKey, error) {
	docs, err := fieldDocs()
	if err != nil {
		return nil, err
	}
	var keys []ConfigKey
	var walk func(t reflect.Type, v reflect.Value, keyPrefix, fieldPrefix string) error
	walk = func(t reflect.Type, v reflect.Value, keyPrefix, fieldPrefix string) error {
		for _, f := range fields(t) {
			key, field := keyPrefix+configKey(f.Name), fieldPrefix+f.Name
			fv := v.FieldByIndex(f.Index)
			if isNested(f.Type) {
				if err := walk(f.Type, fv, key+".", field+"."); err != nil {
					return err
				}
				continue
			}
			node, err := encodeValue(fv)
			if err != nil {
				return fmt.Errorf("mixin: config: %s: %w", key, err)
			}
			def, err := yaml.Marshal(node)
			if err != nil {
				return fmt.Errorf("mixin: config: %s: %w", key, err)
			}
			keys = append(keys, ConfigKey{
				Key: key, Field: field, Type: typeName(f.Type),
				Default: strings.TrimSpace(string(def)),
				Doc:     docs[t.Name()+"."+f.Name],
			})
		}
		return nil
	}
	if err := walk(reflect.TypeFor[Config](), reflect.ValueOf(DefaultConfig()), "", ""); err != nil {
		return nil, err
	}
	return keys, nil
}

// decodeValue sets v from node; key names v in errors.
func decodeValue(node *yaml.Node, v reflect.Value, key string) error {
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if node.Tag == "!!null" {
		return fmt.Errorf("%s has no value (write \"\" for an empty string)", describe(key, node))
	}
	switch {
	case v.Type() == durationType:
		var s string
		if node.Kind != yaml.ScalarNode || node.Decode(&s) != nil {
			return fmt.Errorf("%s: want a duration such as \"15m\"", describe(key, node))
		}
		d, err := model.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration such as \"15m\" or \"1h30m\": %w", describe(key, node), s, err)
		}
		v.SetInt(int64(d))
		return nil
	case isNested(v.Type()):
		if node.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: want a mapping of keys to values", describe(key, node))
		}
		byKey := map[string]reflect.StructField{}
		var valid []string
		for _, f := range fields(v.Type()) {
			byKey[configKey(f.Name)] = f
			valid = append(valid, configKey(f.Name))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k := node.Content[i].Value
			f, ok := byKey[k]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q%s; valid keys: %s", node.Content[i].Line, join(key, k), suggestion(k, valid), strings.Join(valid, ", "))
			}
			if seen[k] {
				return fmt.Errorf("line %d: key %q appears twice", node.Content[i].Line, join(key, k))
			}
			seen[k] = true
			if err := decodeValue(node.Content[i+1], v.FieldByIndex(f.Index), join(key, k)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := decodeValue(node, p.Elem(), key); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case v.Kind() == reflect.Slice && node.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(v.Type(), len(node.Content), len(node.Content))
		for i, item := range node.Content {
			if err := decodeValue(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case v.Kind() == reflect.Map && node.Kind == yaml.MappingNode:
		m := reflect.MakeMapWithSize(v.Type(), len(node.Content)/2)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k := reflect.New(v.Type().Key()).Elem()
			if err := node.Content[i].Decode(k.Addr().Interface()); err != nil {
				return fmt.Errorf("%s: key %q: %w", describe(key, node.Content[i]), node.Content[i].Value, err)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(node.Content[i+1], e, join(key, node.Content[i].Value)); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return nil
	}
	n := reflect.New(v.Type())
	if tags, ok := scalarTags[typeName(v.Type())]; ok && !unmarshals(v.Type()) && !slices.Contains(tags, node.ShortTag()) {
		// yaml would truncate 2.5 to an integer and read yes as a boolean.
		return fmt.Errorf("%s: want %s, not %q", describe(key, node), typeName(v.Type()), node.Value)
	}
	if err := node.Decode(n.Interface()); err != nil {
		if node.Kind == yaml.ScalarNode { // yaml's own message is longer and says less
			return fmt.Errorf("%s: want %s, not %q", describe(key, node), typeName(v.Type()), node.Value)
		}
		return fmt.Errorf("%s: want %s: %w", describe(key, node), typeName(v.Type()), err)
	}
	v.Set(n.Elem())
	return nil
}

// encodeValue is the inverse of decodeValue.
func encodeValue(v reflect.Value) (*yaml.Node, error) {
	switch {
	case v.Type() == durationType:
		d := time.Duration(v.Int())
		if d < 0 || d%time.Millisecond != 0 {
			return nil, fmt.Errorf("%v cannot be written as a Prometheus duration", d)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: model.Duration(d).String()}, nil
	case isNested(v.Type()):
		node := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fields(v.Type()) {
			val, err := encodeValue(v.FieldByIndex(f.Index))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", configKey(f.Name), err)
			}
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: configKey(f.Name)}, val)
		}
		return node, nil
	case v.Kind() == reflect.Pointer && !v.IsNil():
		return encodeValue(v.Elem())
	case v.Kind() == reflect.Slice && !v.IsNil():
		node := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			item, err := encodeValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, item)
		}
		return node, nil
	case v.Kind() == reflect.Map && !v.IsNil():
		node := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			kn, err := encodeScalar(k.Interface())
			if err != nil {
				return nil, err
			}
			val, err := encodeValue(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, kn, val)
		}
		return node, nil
	}
	return encodeScalar(v.Interface())
}

func encodeScalar(x any) (*yaml.Node, error) {
	var node yaml.Node
	if err := node.Encode(x); err != nil {
		return nil, err
	}
	return &node, nil
}

// writeJSON writes node as JSON, keeping the order of mapping keys.
func writeJSON(buf *bytes.Buffer, node *yaml.Node, indent string) error {
	switch node.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		open, end, step := "{", "}", 2
		if node.Kind == yaml.SequenceNode {
			open, end, step = "[", "]", 1
		}
		if len(node.Content) == 0 {
			buf.WriteString(open + end)
			return nil
		}
		buf.WriteString(open + "\n")
		for i := 0; i < len(node.Content); i += step {
			buf.WriteString(indent + "  ")
			if step == 2 {
				if err := writeJSON(buf, node.Content[i], ""); err != nil {
					return err
				}
				buf.WriteString(": ")
			}
			if err := writeJSON(buf, node.Content[i+step-1], indent+"  "); err != nil {
				return err
			}
			if i+step < len(node.Content) {
				buf.WriteString(",")
			}
			buf.WriteString("\n")
		}
		buf.WriteString(indent + end)
		return nil
	}
	var x any
	if err := node.Decode(&x); err != nil {
		return err
	}
	b, err := jsonMarshal(x)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// addComments sets the head comment of every key of node from keys.
func addComments(node *yaml.Node, prefix string, keys []ConfigKey) {
	for i := 0; i+1 < len(node.Content); i += 2 {
		key := prefix + node.Content[i].Value
		if node.Content[i+1].Kind == yaml.MappingNode && !slices.ContainsFunc(keys, func(k ConfigKey) bool { return k.Key == key }) {
			addComments(node.Content[i+1], key+".", keys)
			continue
		}
		for _, k := range keys {
			if k.Key == key && k.Doc != "" {
				node.Content[i].HeadComment = wrap(k.Doc, 88)
			}
		}
	}
}

// fieldDocs returns the doc and line comments of the struct fields declared in this
// package, keyed by "Type.Field".
func fieldDocs() (map[string]string, error) {
	docs := map[string]string{}
	fset := token.NewFileSet()
	names, err := fs.Glob(sources, "*.go")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := sources.ReadFile(name)
		if err != nil {
			return nil, err
		}
		file, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("mixin: %w", err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, f := range st.Fields.List {
				text := strings.Join(strings.Fields(f.Doc.Text()+" "+f.Comment.Text()), " ")
				for _, n := range f.Names {
					docs[ts.Name.Name+"."+n.Name] = text
				}
			}
			return true
		})
	}
	return docs, nil
}

// fields returns the exported fields of struct type t.
func fields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && !f.Anonymous {
			out = append(out, f)
		}
	}
	return out
}

// isNested reports a struct type whose fields are keys of their own.
func isNested(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType && !unmarshals(t)
}

// unmarshals reports a type that reads itself from YAML.
func unmarshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(reflect.TypeFor[yaml.Unmarshaler]()) || p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// configKey turns a Go field name into its key: the leading upper-case run is lowered,
// except for the first letter of the next word (PVCPendingThreshold → pvcPendingThreshold,
// EKS → eks, RunbookURLPattern → runbookURLPattern).
func configKey(field string) string {
	r := []rune(field)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	if n > 1 && n < len(r) && unicode.IsLower(r[n]) {
		n--
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "mapping of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	}
	return t.String()
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func describe(key string, node *yaml.Node) string {
	if key == "" {
		return fmt.Sprintf("line %d: the configuration", node.Line)
	}
	return fmt.Sprintf("line %d: %s", node.Line, key)
}

// suggestion names the valid key that differs from k only in case, if any.
func suggestion(k string, valid []string) string {
	for _, v := range valid {
		if strings.EqualFold(v, k) {
			return fmt.Sprintf(" (did you mean %q?)", v)
		}
	}
	return ""
}

func wrap(text string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

func jsonMarshal(x any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
