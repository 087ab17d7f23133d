package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestTopicMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"+/+", "a/b", true},
		{"+", "a/b", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"+/x", "$SYS/x", false},
		{"#", "$SYS/x", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
	} {
		if got := TopicMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("TopicMatches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestFilterCovers(t *testing.T) {
	for _, tc := range []struct {
		grant, filter string
		want          bool
	}{
		{"edge/v1/dev/+/app/#", "edge/v1/dev/a/app/x/#", true},
		{"edge/v1/dev/+/app/#", "edge/v1/dev/+/app/+", true},
		{"edge/v1/dev/+/app/#", "edge/v1/dev/+/#", false},
		{"edge/v1/dev/+/app/#", "edge/v1/dev/a/status", false},
		{"edge/v1/dev/a/in/#", "edge/v1/dev/a/in", true},
		{"edge/v1/dev/a/in/#", "edge/v1/dev/+/in/x", false},
		{"edge/v1/dev/a/in/#", "edge/v1/dev/b/in/x", false},
		{"a/+", "a/#", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a", "a/#", false},
		{"#", "anything/#", true},
	} {
		if got := FilterCovers(tc.grant, tc.filter); got != tc.want {
			t.Errorf("FilterCovers(%q, %q) = %v, want %v", tc.grant, tc.filter, got, tc.want)
		}
	}
}

// FuzzFilterCovers: a grant that covers a filter matches every topic the
// filter matches.
func FuzzFilterCovers(f *testing.F) {
	f.Add("a/+/#", "a/b/c", "a/b/c")
	f.Add("edge/v1/dev/+/app/#", "edge/v1/dev/x/app/+", "edge/v1/dev/x/app/y")
	f.Fuzz(func(t *testing.T, g, flt, topic string) {
		if ValidateFilter(g) != nil || ValidateFilter(flt) != nil || ValidateTopic(topic) != nil {
			return
		}
		if FilterCovers(g, flt) && TopicMatches(flt, topic) && !TopicMatches(g, topic) {
			t.Fatalf("%q covers %q, which matches %q, which %q does not", g, flt, topic, g)
		}
	})
}

func TestMessagingValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Manifest)
		ok     bool
	}{
		{"publish and subscribe", func(m *Manifest) {
			m.Messaging = Messaging{Publish: []string{"alerts/#", "summary"}, Subscribe: []Subscription{
				{Filter: "edge/v1/dev/{device}/in/readings/#", QoS: 1},
				{Filter: "edge/v1/dev/+/app/sensor/+"},
				{Filter: "edge/v1/dev/pi-2/app/x"},
			}, Rate: 100, MaxPayload: 1024}
			m.Timers = []Timer{{Name: "sample", EveryMS: 1000}}
		}, true},
		{"control topic", func(m *Manifest) {
			m.Messaging.Subscribe = []Subscription{{Filter: "edge/v1/dev/{device}/desired"}}
		}, false},
		{"everything", func(m *Manifest) { m.Messaging.Subscribe = []Subscription{{Filter: "#"}} }, false},
		{"device wildcard below", func(m *Manifest) { m.Messaging.Subscribe = []Subscription{{Filter: "edge/v1/dev/#"}} }, false},
		{"bare namespace", func(m *Manifest) { m.Messaging.Subscribe = []Subscription{{Filter: "edge/v1/dev/+/app"}} }, false},
		{"shared", func(m *Manifest) { m.Messaging.Subscribe = []Subscription{{Filter: "$share/g/edge/v1/dev/+/app/x"}} }, false},
		{"qos 2", func(m *Manifest) { m.Messaging.Subscribe = []Subscription{{Filter: "edge/v1/dev/+/app/x", QoS: 2}} }, false},
		{"bad publish filter", func(m *Manifest) { m.Messaging.Publish = []string{"a/#/b"} }, false},
		{"rate over", func(m *Manifest) { m.Messaging.Rate = MaxPublishRate + 1 }, false},
		{"payload over", func(m *Manifest) { m.Messaging.MaxPayload = MaxMessagePayload + 1 }, false},
		{"timer too fast", func(m *Manifest) { m.Timers = []Timer{{Name: "t", EveryMS: 10}} }, false},
		{"timer twice", func(m *Manifest) { m.Timers = []Timer{{Name: "t", EveryMS: 1000}, {Name: "t", EveryMS: 2000}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.mutate(m)
			m.Schema = ManifestSchemaPlatform
			err := m.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrManifest) {
				t.Errorf("Validate = %v, want ErrManifest", err)
			}
		})
	}
}

// TestPlatformNeedsSchema3: a manifest with a platform capability takes
// schema 3 (LowestSchema), and an older schema carrying one is refused,
// so an agent that knows only 1 and 2 never half-reads it.
func TestPlatformNeedsSchema3(t *testing.T) {
	m := validManifest()
	if got := m.LowestSchema(); got != ManifestSchema {
		t.Errorf("LowestSchema without capabilities = %d, want %d", got, ManifestSchema)
	}
	m.Timers = []Timer{{Name: "t", EveryMS: 1000}}
	if got := m.LowestSchema(); got != ManifestSchemaPlatform {
		t.Errorf("LowestSchema with a timer = %d, want %d", got, ManifestSchemaPlatform)
	}
	m.Schema = ManifestSchemaEpoch
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "need schema 3") {
		t.Errorf("schema 2 with a timer: Validate = %v, want a refusal naming schema 3", err)
	}
}

func TestExpandFilter(t *testing.T) {
	if got := ExpandFilter("edge/v1/dev/{device}/in/{device}x/#", "pi-1"); got != "edge/v1/dev/pi-1/in/{device}x/#" {
		t.Errorf("ExpandFilter = %q", got)
	}
	if got := AppTopic("pi-1", "telemetry", "alerts/hot"); got != "edge/v1/dev/pi-1/app/telemetry/alerts/hot" {
		t.Errorf("AppTopic = %q", got)
	}
}
