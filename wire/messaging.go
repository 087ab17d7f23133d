package wire

import (
	"fmt"
	"strings"
)

// Messaging: modules publish to MQTT and are called for messages and on
// timers (manifest schema 3). The agent holds the device's one MQTT
// session; modules reach it only through the host.
//
//	edge/v1/dev/{id}/app/{module}/...  a module's own namespace: device id
//	                                   publishes there (only its module
//	                                   module, the agent sees to that);
//	                                   every device and the controller read it
//	edge/v1/dev/{id}/in/...            the device's inbox: the controller
//	                                   (or whoever holds its credentials)
//	                                   writes, device id reads
//
// A module publishes only to topics of its namespace its manifest lists
// (Messaging.Publish, relative to the namespace), and receives only
// messages on filters its manifest lists (Messaging.Subscribe) that the
// broker lets the device read (control/auth, deploy/mosquitto/edge.acl).

// Topic levels of the messaging namespaces.
const (
	KindApp   = "app"
	KindInbox = "in"
)

// Limits of messaging, per module. The manifest may ask for less (or, for
// the rate, more up to the maximum).
const (
	DefaultPublishRate   = 10       // publishes per second, bursts of one second's worth ×2
	MaxPublishRate       = 1000     // the most a manifest may ask for
	DefaultMaxPayload    = 16 << 10 // bytes per published message
	MaxMessagePayload    = 64 << 10 // the most a manifest may ask for; also the most a delivered message carries
	MaxSubscriptions     = 16       // filters per module
	MaxPublishTopics     = 16       // allow-list entries per module
	MaxTimers            = 8        // timers per module
	MinTimerInterval     = 100      // ms
	DeviceFilterVariable = "{device}"
)

// Messaging is what a module may publish and what it is called for.
type Messaging struct {
	// Publish lists the topics, relative to the module's namespace
	// edge/v1/dev/{id}/app/{module}/, the module may publish to; MQTT
	// wildcards allowed ("alerts/#", "readings/+").
	Publish []string `json:"publish,omitempty"`
	// Subscribe lists the filters the agent subscribes to for the module;
	// each matching message is delivered to its edge_on_message export.
	Subscribe []Subscription `json:"subscribe,omitempty"`
	// Rate bounds publishes per second (bursts of twice that);
	// 0: DefaultPublishRate.
	Rate int `json:"rate,omitempty"`
	// MaxPayload bounds one published message; 0: DefaultMaxPayload.
	MaxPayload int `json:"max_payload,omitempty"`
}

// Subscription is one topic filter a module is called for. "{device}" as
// a whole level stands for the device's own id. A filter lies in the app
// or inbox namespace of a device ("edge/v1/dev/{device}/in/readings/#",
// "edge/v1/dev/+/app/sensor/temp"): never on a device's control topics.
type Subscription struct {
	Filter string `json:"filter"`
	QoS    byte   `json:"qos,omitempty"` // 0 or 1
}

// Timer calls the module's edge_on_timer export every EveryMS
// milliseconds.
type Timer struct {
	Name    string `json:"name"`
	EveryMS int64  `json:"every_ms"`
}

// AppTopic is the namespace of module on device id, with sub appended
// when it is not empty.
func AppTopic(id, module, sub string) string {
	t := TopicRoot + "/dev/" + id + "/" + KindApp + "/" + module
	if sub != "" {
		t += "/" + sub
	}
	return t
}

// InboxTopic is device id's inbox topic sub.
func InboxTopic(id, sub string) string {
	return TopicRoot + "/dev/" + id + "/" + KindInbox + "/" + sub
}

// ExpandFilter replaces a "{device}" level of filter with id.
func ExpandFilter(filter, id string) string {
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if l == DeviceFilterVariable {
			levels[i] = id
		}
	}
	return strings.Join(levels, "/")
}

// ValidateFilter checks an MQTT topic filter: non-empty, at most 64 KiB,
// "#" only as the whole last level, "+" only as a whole level, no NUL,
// not a shared subscription ($share/...).
func ValidateFilter(f string) error {
	if f == "" || len(f) > 65535 {
		return fmt.Errorf("filter %q: empty or too long", f)
	}
	if strings.HasPrefix(f, "$") || strings.ContainsRune(f, 0) {
		return fmt.Errorf("filter %q: $-topics and NUL are not allowed", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("filter %q: # only as the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("filter %q: + only as a whole level", f)
		}
	}
	return nil
}

// ValidateTopic checks a topic name for publishing: a valid filter
// without wildcards.
func ValidateTopic(t string) error {
	if err := ValidateFilter(t); err != nil {
		return err
	}
	if strings.ContainsAny(t, "+#") {
		return fmt.Errorf("topic %q: wildcards are for filters only", t)
	}
	return nil
}

// TopicMatches reports whether topic matches filter (MQTT 3.1.1 §4.7;
// both assumed valid). Topics starting with '$' match no wildcard in the
// first level.
func TopicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "#":
			return true
		case fl != "+" && fl != tl:
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" too.
			return fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// FilterCovers reports whether every topic that filter f may match also
// matches grant g, so that a subscription to f reads nothing g does not
// allow. Both are valid filters.
func FilterCovers(g, f string) bool {
	for {
		gl, grest, gmore := strings.Cut(g, "/")
		fl, frest, fmore := strings.Cut(f, "/")
		switch {
		case gl == "#":
			return true
		case fl == "#":
			return false // f reaches deeper (or shallower) than g's fixed levels
		case gl == "+":
		case fl == "+" || gl != fl:
			return false
		}
		if !gmore || !fmore {
			return gmore == fmore || (!fmore && grest == "#")
		}
		g, f = grest, frest
	}
}

// validSubscription checks that f (device placeholder allowed) lies in an
// app or inbox namespace: edge/v1/dev/{X}/app/... or edge/v1/dev/{X}/in/...
// with X a device id, "+" or "{device}", and at least one level below.
func validSubscription(f string) error {
	if err := ValidateFilter(f); err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(f, TopicRoot+"/dev/")
	levels := strings.Split(rest, "/")
	if !ok || len(levels) < 3 || (levels[1] != KindApp && levels[1] != KindInbox) {
		return fmt.Errorf("filter %q: want %s/dev/DEVICE/%s/... or %s/dev/DEVICE/%s/...", f, TopicRoot, KindApp, TopicRoot, KindInbox)
	}
	if d := levels[0]; d != "+" && d != DeviceFilterVariable && ValidateDeviceID(d) != nil {
		return fmt.Errorf("filter %q: device level %q: want an id, + or %s", f, d, DeviceFilterVariable)
	}
	return nil
}

// validateMessaging checks the messaging block and the timers.
func (m *Manifest) validateMessaging() []string {
	var errs []string
	msg := &m.Messaging
	if len(msg.Publish) > MaxPublishTopics {
		errs = append(errs, fmt.Sprintf("messaging: %d publish topics, at most %d", len(msg.Publish), MaxPublishTopics))
	}
	for _, p := range msg.Publish {
		if err := ValidateFilter(p); err != nil {
			errs = append(errs, "messaging: publish "+err.Error())
		}
	}
	if len(msg.Subscribe) > MaxSubscriptions {
		errs = append(errs, fmt.Sprintf("messaging: %d subscriptions, at most %d", len(msg.Subscribe), MaxSubscriptions))
	}
	for _, s := range msg.Subscribe {
		if err := validSubscription(s.Filter); err != nil {
			errs = append(errs, "messaging: subscribe "+err.Error())
		}
		if s.QoS > 1 {
			errs = append(errs, fmt.Sprintf("messaging: subscribe %q: qos %d, want 0 or 1", s.Filter, s.QoS))
		}
	}
	if msg.Rate < 0 || msg.Rate > MaxPublishRate {
		errs = append(errs, fmt.Sprintf("messaging: rate %d outside 0..%d", msg.Rate, MaxPublishRate))
	}
	if msg.MaxPayload < 0 || msg.MaxPayload > MaxMessagePayload {
		errs = append(errs, fmt.Sprintf("messaging: max_payload %d outside 0..%d", msg.MaxPayload, MaxMessagePayload))
	}
	if len(m.Timers) > MaxTimers {
		errs = append(errs, fmt.Sprintf("timers: %d, at most %d", len(m.Timers), MaxTimers))
	}
	seen := map[string]bool{}
	for _, t := range m.Timers {
		if err := ValidateModuleName(t.Name); err != nil || seen[t.Name] {
			errs = append(errs, fmt.Sprintf("timers: name %q: want a unique name of [A-Za-z0-9._-]", t.Name))
		}
		seen[t.Name] = true
		if t.EveryMS < MinTimerInterval {
			errs = append(errs, fmt.Sprintf("timers: %s every %d ms, at least %d", t.Name, t.EveryMS, MinTimerInterval))
		}
	}
	return errs
}

// ValidateMessaging checks only the messaging block and the timers, as
// Validate does (edgectl checks its flags with it before signing).
func (m *Manifest) ValidateMessaging() error {
	if errs := m.validateMessaging(); len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrManifest, strings.Join(errs, "; "))
	}
	return nil
}

// PublishRate is the module's publish rate per second.
func (msg *Messaging) PublishRate() int {
	if msg.Rate == 0 {
		return DefaultPublishRate
	}
	return msg.Rate
}

// PayloadLimit is the largest message the module may publish.
func (msg *Messaging) PayloadLimit() int {
	if msg.MaxPayload == 0 {
		return DefaultMaxPayload
	}
	return msg.MaxPayload
}

// Triggers reports whether m declares a trigger (a subscription or a
// timer): the guest must speak ABI version 2 and export its handler.
func (m *Manifest) Triggers() bool {
	return len(m.Messaging.Subscribe) > 0 || len(m.Timers) > 0
}

func (msg *Messaging) isZero() bool {
	return len(msg.Publish) == 0 && len(msg.Subscribe) == 0 && msg.Rate == 0 && msg.MaxPayload == 0
}
