package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func manifestJSON(t testing.TB) string {
	t.Helper()
	m := validManifest()
	m.KeyID = "0123456789abcdef"
	m.Config = map[string]string{"greeting": "hi"}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodeAttacks is the table of inputs each side must refuse (or accept)
// alike. The manifest rows are the case of issue 7 (case 9): a valid
// manifest followed by trailing data was accepted by one parser and not the
// other.
func TestDecodeAttacks(t *testing.T) {
	man := manifestJSON(t)
	desired := `{"device":"pi-1","generation":3,"issued":"2026-03-01T12:00:00Z","modules":[]}`
	tests := []struct {
		name string
		into any
		in   string
		want error // nil: accepted
	}{
		{"manifest valid", new(Manifest), man, nil},
		{"manifest with trailing object", new(Manifest), man + ` {}`, ErrMalformed},
		{"manifest with trailing garbage", new(Manifest), man + `x`, ErrMalformed},
		{"manifest twice", new(Manifest), man + man, ErrMalformed},
		{"manifest with trailing whitespace", new(Manifest), man + " \n\t", nil},
		{"manifest duplicate name", new(Manifest), strings.Replace(man, `"name":"orders"`, `"name":"orders","name":"evil"`, 1), ErrMalformed},
		{"manifest case-variant name", new(Manifest), strings.Replace(man, `"name":"orders"`, `"name":"orders","Name":"evil"`, 1), ErrMalformed},
		{"manifest only case-variant name", new(Manifest), strings.Replace(man, `"name":"orders"`, `"NAME":"orders"`, 1), ErrMalformed},
		{"manifest escaped duplicate", new(Manifest), strings.Replace(man, `"name":"orders"`, `"name":"orders","\u006eame":"evil"`, 1), ErrMalformed},
		{"manifest unknown field", new(Manifest), strings.Replace(man, `{`, `{"admin":true,`, 1), ErrMalformed},
		{"manifest duplicate config key", new(Manifest), strings.Replace(man, `"greeting":"hi"`, `"greeting":"hi","greeting":"bye"`, 1), ErrMalformed},
		{"manifest config keys differing in case", new(Manifest), strings.Replace(man, `"greeting":"hi"`, `"greeting":"hi","Greeting":"bye"`, 1), nil},
		{"manifest wrong type", new(Manifest), strings.Replace(man, `"schema":1`, `"schema":"1"`, 1), ErrMalformed},
		{"manifest not JSON", new(Manifest), `{"schema":1`, ErrMalformed},
		{"manifest array", new(Manifest), `[]`, ErrMalformed},
		{"manifest oversize", new(Manifest), man[:len(man)-1] + `,"config":{"x":"` + strings.Repeat("a", MaxManifestSize) + `"}}`, ErrTooLarge},
		{"desired valid", new(DesiredState), desired, nil},
		{"desired unknown field tolerated", new(DesiredState), strings.Replace(desired, `{`, `{"future":{"a":[1,2]},`, 1), nil},
		{"desired trailing data", new(DesiredState), desired + ` {}`, ErrMalformed},
		{"desired duplicate generation", new(DesiredState), strings.Replace(desired, `"generation":3`, `"generation":3,"generation":9`, 1), ErrMalformed},
		{"desired case-variant device", new(DesiredState), strings.Replace(desired, `"device":"pi-1"`, `"device":"pi-1","Device":"pi-2"`, 1), ErrMalformed},
		{"desired duplicate inside an unknown field", new(DesiredState), strings.Replace(desired, `{`, `{"future":{"a":1,"a":2},`, 1), ErrMalformed},
		{"desired duplicate in a module's envelope", new(DesiredState), strings.Replace(desired, `"modules":[]`,
			`"modules":[{"deployment":"d","envelope":{"payloadType":"x","payloadType":"y","payload":"","signatures":[]}}]`, 1), ErrMalformed},
		{"desired nested too deep", new(DesiredState), strings.Replace(desired, `{`, `{"future":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,`, 1), ErrMalformed},
		{"desired oversize", new(DesiredState), strings.Replace(desired, `{`, `{"future":"`+strings.Repeat("a", MaxDesiredSize)+`",`, 1), ErrTooLarge},
		{"deploy request unknown field", new(DeployRequest), `{"envelope":{},"force":true}`, ErrMalformed},
		{"deploy request misspelt field", new(DeployRequest), `{"envelop":{}}`, ErrMalformed},
		{"deploy request trailing data", new(DeployRequest), `{"envelope":{}} {}`, ErrMalformed},
		{"deploy request unknown envelope field", new(DeployRequest), `{"envelope":{"payloadType":"x","extra":1}}`, ErrMalformed},
		{"device request valid", new(DeviceCredentialsRequest), `{"id":"pi-1"}`, nil},
		{"device request duplicate id", new(DeviceCredentialsRequest), `{"id":"pi-1","id":"pi-2"}`, ErrMalformed},
		{"fetch valid", new(FetchChunks), `{"sha256":"ab","indices":[1,2]}`, nil},
		{"fetch duplicate indices key", new(FetchChunks), `{"sha256":"ab","indices":[1],"indices":[2]}`, ErrMalformed},
		{"status unknown field tolerated", new(Status), `{"device":"pi-1","online":true,"uptime":5}`, nil},
		{"status duplicate online", new(Status), `{"device":"pi-1","online":false,"online":true}`, ErrMalformed},
		{"status duplicate label", new(Status), `{"device":"pi-1","labels":{"site":"a","site":"b"}}`, ErrMalformed},
		{"event trailing data", new(Event), `{"device":"pi-1","state":"running"}]`, ErrMalformed},
		{"metrics oversize", new(Metrics), `{"device":"` + strings.Repeat("a", MaxReportSize) + `"}`, ErrTooLarge},
		{"answer list", new([]Deployment), `[{"id":"d-1","devices":[]}]`, nil},
		{"answer list duplicate", new([]Device), `[{"id":"a","id":"b"}]`, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode([]byte(tt.in), tt.into)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Decode = %v, want accepted", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeNotAWireType(t *testing.T) {
	var x struct{ A int }
	if err := Decode([]byte(`{"A":1}`), &x); err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("Decode into a non-wire type = %v, want a programming error", err)
	}
	if err := Decode([]byte(`{}`), Manifest{}); err == nil {
		t.Error("Decode into a non-pointer = nil, want an error")
	}
}

func TestParseManifest(t *testing.T) {
	man := manifestJSON(t)
	m, err := ParseManifest([]byte(man))
	if err != nil || m.Name != "orders" || m.Config["greeting"] != "hi" {
		t.Fatalf("ParseManifest = %+v, %v", m, err)
	}
	for _, in := range []string{man + ` {}`, strings.Replace(man, `"version":"1.4.0"`, `"version":"1.4"`, 1)} {
		if _, err := ParseManifest([]byte(in)); !errors.Is(err, ErrManifest) {
			t.Errorf("ParseManifest(%.40q...) = %v, want ErrManifest", in, err)
		}
	}
}

// TestSignRefusesOversizeManifest: edgectl signs, so the manifest limit
// (config values included) is first checked there.
func TestSignRefusesOversizeManifest(t *testing.T) {
	_, priv := newKey(t)
	m := validManifest()
	m.Config = map[string]string{"big": strings.Repeat("x", MaxManifestSize)}
	_, err := Sign(m, priv)
	var se *SizeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) || se.Limit != MaxManifestSize {
		t.Errorf("Sign = %v, want a SizeError with limit %d", err, MaxManifestSize)
	}
}

// FuzzDecode checks Decode against encoding/json: whatever Decode accepts,
// encoding/json decodes to the same value, and what Decode produced
// re-encodes to bytes Decode accepts again.
func FuzzDecode(f *testing.F) {
	f.Add(0, []byte(manifestJSON(f)))
	f.Add(1, []byte(`{"device":"d","generation":1,"modules":[{"deployment":"x","envelope":{"payloadType":"t","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]},"blob":{"sha256":"ab","chunks":["a"]}}]}`))
	f.Add(2, []byte(`{"device":"d","online":true,"labels":{"a":"b"},"modules":[{"name":"m","state":"running"}]}`))
	f.Add(3, []byte(`{"envelope":{"payloadType":"t","payload":"e30=","signatures":[]}}`))
	f.Add(4, []byte(`{"sha256":"ab","indices":[0,1,2]}`))
	f.Add(1, []byte(`{"device":"d","Device":"e"}`))
	f.Add(0, []byte(`{"name":"a"} {}`))
	f.Add(6, []byte(`{"module":"orders","targets":{"nodes":["a"]},"rollback":true,"to":"1.0.0"}`))
	f.Add(7, []byte(`{"envelope":{"payloadType":"t","payload":"e30=","signatures":[]},"waves":["1","10%"],"gate":{"soak_ms":1000,"max_error_rate":0.01}}`))
	f.Add(8, []byte(`{"set":{"ring":"canary"},"remove":["site"]}`))
	f.Add(9, []byte(`{"module":"orders"}`))
	f.Add(10, []byte(`{"source":"oci://127.0.0.1:5000/edge/orders@sha256:0123","size":3}`))
	f.Add(11, []byte(`{"module":"orders","targets":{"labels":{"ring":"canary"}},"allow_unregistered":true}`))
	types := []func() any{
		func() any { return new(Manifest) }, func() any { return new(DesiredState) }, func() any { return new(Status) },
		func() any { return new(DeployRequest) }, func() any { return new(FetchChunks) }, func() any { return new(Event) },
		func() any { return new(PlanRequest) }, func() any { return new(RolloutRequest) }, func() any { return new(LabelRequest) },
		func() any { return new(QuarantineClearRequest) }, func() any { return new(BlobPullRequest) },
		func() any { return new(UndeployRequest) },
	}
	f.Fuzz(func(t *testing.T, kind int, b []byte) {
		if kind < 0 {
			kind = -kind
		}
		newV := types[kind%len(types)]
		got := newV()
		if err := Decode(b, got); err != nil {
			return
		}
		std := newV()
		if err := json.Unmarshal(b, std); err != nil {
			t.Fatalf("Decode accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("Decode and encoding/json disagree on %q:\n%+v\n%+v", b, got, std)
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if err := Decode(again, newV()); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("re-encoding of an accepted value is refused: %v\n%s", err, again)
		}
	})
}
