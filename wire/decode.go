package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// ErrMalformed is wrapped by every error of Decode about the shape of the
// bytes (not JSON, trailing data, a duplicate or misspelt key, an unknown
// field where the contract refuses them, a wrong type).
var ErrMalformed = errors.New("malformed")

// rule is how one wire type is decoded.
type rule struct {
	name    string
	max     int
	unknown bool // tolerate unknown fields
}

// rules is the decoding contract of every wire type. Structures a person
// writes or signs (the manifest, API requests) refuse unknown fields: a
// misspelt field must not silently do nothing, and a new manifest field
// means a new ManifestSchema. Messages between the programs (desired state,
// reports, API answers) tolerate unknown fields, so a newer controller or
// agent can add an optional field without breaking older peers; a field
// whose meaning must not be missed needs a new Version instead. Trailing
// data, duplicate keys and keys that differ from a field's name only by
// case are refused everywhere: encoding/json would pick one of two values
// silently (the last duplicate; any case variant), and another parser might
// pick the other.
var rules = map[reflect.Type]rule{
	reflect.TypeFor[Manifest]():                 {"manifest", MaxManifestSize, false},
	reflect.TypeFor[DeployRequest]():            {"deploy request", MaxDeployRequestSize, false},
	reflect.TypeFor[DeviceCredentialsRequest](): {"device request", MaxRequestSize, false},
	reflect.TypeFor[BlobPullRequest]():          {"blob pull request", MaxRequestSize, false},
	reflect.TypeFor[DesiredState]():             {"desired state", MaxDesiredSize, true},
	reflect.TypeFor[FetchChunks]():              {"fetch request", MaxReportSize, true},
	reflect.TypeFor[Status]():                   {"status", MaxReportSize, true},
	reflect.TypeFor[Event]():                    {"event", MaxReportSize, true},
	reflect.TypeFor[Metrics]():                  {"metrics", MaxReportSize, true},
	reflect.TypeFor[Deployment]():               {"deployment", MaxAnswerSize, true},
	reflect.TypeFor[[]Deployment]():             {"deployment list", MaxAnswerSize, true},
	reflect.TypeFor[Device]():                   {"device", MaxAnswerSize, true},
	reflect.TypeFor[[]Device]():                 {"device list", MaxAnswerSize, true},
	reflect.TypeFor[DeviceCredentials]():        {"device credentials", MaxAnswerSize, true},
	reflect.TypeFor[BlobRef]():                  {"blob reference", MaxAnswerSize, true},
	reflect.TypeFor[APIError]():                 {"error answer", MaxAnswerSize, true},
	reflect.TypeFor[DeviceDetail]():             {"device detail", MaxAnswerSize, true},
	reflect.TypeFor[[]ModuleSummary]():          {"module list", MaxAnswerSize, true},
	reflect.TypeFor[History]():                  {"history", MaxAnswerSize, true},
	reflect.TypeFor[LogRequest]():               {"log request", MaxReportSize, true},
	reflect.TypeFor[LogBatch]():                 {"log batch", MaxReportSize, true},
	reflect.TypeFor[PlanRequest]():              {"plan request", MaxDeployRequestSize, false},
	reflect.TypeFor[Plan]():                     {"plan", MaxAnswerSize, true},
	reflect.TypeFor[RolloutRequest]():           {"rollout request", MaxRolloutRequestSize, false},
	reflect.TypeFor[Rollout]():                  {"rollout", MaxAnswerSize, true},
	reflect.TypeFor[[]Rollout]():                {"rollout list", MaxAnswerSize, true},
	reflect.TypeFor[LabelRequest]():             {"label request", MaxRequestSize, false},
	reflect.TypeFor[Labels]():                   {"labels", MaxAnswerSize, true},
	reflect.TypeFor[QuarantineClearRequest]():   {"quarantine clear request", MaxRequestSize, false},
	reflect.TypeFor[QuarantineClear]():          {"quarantine clear", MaxAnswerSize, true},
	reflect.TypeFor[CancelResult]():             {"cancel result", MaxAnswerSize, true},
	reflect.TypeFor[UndeployRequest]():          {"undeploy request", MaxDeployRequestSize, false},
	reflect.TypeFor[UndeployResult]():           {"undeploy result", MaxAnswerSize, true},
	reflect.TypeFor[DeviceRemoval]():            {"device removal", MaxAnswerSize, true},
}

// Decode parses b into v, a pointer to one of the wire types, by the
// contract above: within the type's size limit, exactly one JSON value,
// no duplicate or case-variant keys, unknown fields as the type's rule
// says. It is the only way controller, agent and edgectl read a wire
// structure, so they can never disagree on what some bytes mean.
func Decode(b []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("wire.Decode: %T is not a non-nil pointer", v)
	}
	t := rv.Type().Elem()
	r, ok := rules[t]
	if !ok {
		return fmt.Errorf("wire.Decode: %s is not a wire type", t)
	}
	if len(b) > r.max {
		return &SizeError{What: r.name, Size: int64(len(b)), Limit: int64(r.max)}
	}
	if err := checkShape(b, t, r.unknown); err != nil {
		return fmt.Errorf("%w %s: %w", ErrMalformed, r.name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w %s: %w", ErrMalformed, r.name, err)
	}
	return nil
}

// ParseManifest decodes and validates manifest bytes: the one parser of
// the signed manifest, used by Keyring.Verify, the controller and the
// agent.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := Decode(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkShape walks the JSON tokens of b alongside the Go type t and refuses
// what encoding/json would accept silently: trailing data, a key given
// twice, a key matching a struct field only case-insensitively, and (unless
// unknown) a key matching no field.
func checkShape(b []byte, t reflect.Type, unknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	w := walker{dec: dec, unknown: unknown}
	if err := w.value(t, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

type walker struct {
	dec     *json.Decoder
	unknown bool
	depth   int
}

// maxDepth bounds nesting (encoding/json allows 10000): no wire type nests
// more than a few levels, and an unknown field may not hide a deep tree.
const maxDepth = 32

func (w *walker) value(t reflect.Type, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if w.depth++; w.depth > maxDepth {
			return fmt.Errorf("%s: nested more than %d levels", orRoot(path), maxDepth)
		}
		defer func() { w.depth-- }()
	}
	switch tok {
	case json.Delim('{'):
		return w.object(t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := w.dec.Token()
		return err
	}
	return nil // a scalar: json.Unmarshal checks its type
}

func (w *walker) object(t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = structFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		at := path + "." + key
		if seen[key] {
			return fmt.Errorf("%s: key given twice", at)
		}
		seen[key] = true
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				if name := foldMatch(fields, key); name != "" {
					return fmt.Errorf("%s: field name must be spelled %q", at, name)
				}
				if !w.unknown {
					return fmt.Errorf("%s: unknown field", at)
				}
			}
		}
		if err := w.value(ft, at); err != nil {
			return err
		}
	}
	_, err := w.dec.Token()
	return err
}

func orRoot(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// foldMatch returns the field name key matches case-insensitively (the
// way encoding/json matches names), or "".
func foldMatch(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// structFields maps the JSON names of t's fields to their types. Types
// with their own UnmarshalJSON (time.Time) are not structs to the walker.
func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	fieldCache.Store(t, fields)
	return fields
}
