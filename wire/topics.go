package wire

import (
	"fmt"
	"regexp"
	"strings"
)

// TopicRoot prefixes every topic.
const TopicRoot = "edge/v1"

// Per-device topics. The device id is the MQTT username the device
// authenticates with; brokers key their ACLs on it (see deploy/mosquitto).
//
//	edge/v1/dev/{id}/desired   controller → agent, retained, QoS 1, DesiredState
//	edge/v1/dev/{id}/chunks    controller → agent, QoS 1, Chunk frames
//	edge/v1/dev/{id}/status    agent → controller, retained, QoS 1, Status (also the Last Will)
//	edge/v1/dev/{id}/events    agent → controller, QoS 1, Event
//	edge/v1/dev/{id}/metrics   agent → controller, QoS 0, Metrics
//	edge/v1/dev/{id}/fetch     agent → controller, QoS 1, FetchChunks
//	edge/v1/dev/{id}/logreq    controller → agent, QoS 1, LogRequest
//	edge/v1/dev/{id}/logs      agent → controller, QoS 1, LogBatch
const (
	KindDesired = "desired"
	KindChunks  = "chunks"
	KindStatus  = "status"
	KindEvents  = "events"
	KindMetrics = "metrics"
	KindFetch   = "fetch"
	KindLogReq  = "logreq"
	KindLogs    = "logs"
)

// DeviceTopic returns the topic of the given kind for device id.
func DeviceTopic(id, kind string) string {
	return TopicRoot + "/dev/" + id + "/" + kind
}

// DeviceWildcard returns the subscription filter for one kind of topic of
// every device, e.g. edge/v1/dev/+/status.
func DeviceWildcard(kind string) string {
	return TopicRoot + "/dev/+/" + kind
}

// ParseDeviceTopic splits a per-device topic into device id and kind.
func ParseDeviceTopic(topic string) (id, kind string, err error) {
	rest, ok := strings.CutPrefix(topic, TopicRoot+"/dev/")
	if !ok {
		return "", "", fmt.Errorf("topic %q: not under %s/dev/", topic, TopicRoot)
	}
	id, kind, ok = strings.Cut(rest, "/")
	if !ok || kind == "" || strings.Contains(kind, "/") {
		return "", "", fmt.Errorf("topic %q: want %s/dev/ID/KIND", topic, TopicRoot)
	}
	if err := ValidateDeviceID(id); err != nil {
		return "", "", fmt.Errorf("topic %q: %w", topic, err)
	}
	return id, kind, nil
}

var deviceIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateDeviceID checks that id is usable as a topic level and a username:
// 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit.
// MQTT wildcards and separators ('+', '#', '/') can therefore never appear.
func ValidateDeviceID(id string) error {
	if !deviceIDRe.MatchString(id) {
		return fmt.Errorf("invalid device id %q: want 1-63 of [A-Za-z0-9._-], starting with a letter or digit", id)
	}
	return nil
}

// ValidateModuleName applies the same rule to module names.
func ValidateModuleName(name string) error {
	if !deviceIDRe.MatchString(name) {
		return fmt.Errorf("invalid module name %q: want 1-63 of [A-Za-z0-9._-], starting with a letter or digit", name)
	}
	return nil
}
