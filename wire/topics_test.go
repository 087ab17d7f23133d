package wire

import (
	"strings"
	"testing"
)

func TestValidateDeviceID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"pi-1", true},
		{"a", true},
		{"9", true},
		{"board_07.lyon", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"+", false},
		{"pi+1", false},
		{"#", false},
		{"pi#", false},
		{"a/b", false},
		{"/", false},
		{"-pi", false},
		{".pi", false},
		{"_pi", false},
		{"pi 1", false},
		{"pi\x00", false},
		{"pi\n", false},
		{"pï", false},
		{"$SYS", false},
	}
	for _, tt := range tests {
		err := ValidateDeviceID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateDeviceID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err2 := ValidateModuleName(tt.id); (err2 == nil) != tt.ok {
			t.Errorf("ValidateModuleName(%q) = %v, want ok=%v", tt.id, err2, tt.ok)
		}
	}
}

func TestParseDeviceTopic(t *testing.T) {
	tests := []struct {
		topic    string
		id, kind string
		ok       bool
	}{
		{"edge/v1/dev/pi-1/status", "pi-1", KindStatus, true},
		{"edge/v1/dev/a/desired", "a", KindDesired, true},
		{DeviceTopic("board_7", KindChunks), "board_7", KindChunks, true},
		{"edge/v1/dev/" + strings.Repeat("a", 63) + "/events", strings.Repeat("a", 63), KindEvents, true},
		{"edge/v1/dev/" + strings.Repeat("a", 64) + "/events", "", "", false},
		{"edge/v1/dev/+/status", "", "", false},
		{"edge/v1/dev/#", "", "", false},
		{"edge/v1/dev/#/status", "", "", false},
		{"edge/v1/dev//status", "", "", false},
		{"edge/v1/dev/pi-1", "", "", false},
		{"edge/v1/dev/pi-1/", "", "", false},
		{"edge/v1/dev/pi-1/status/extra", "", "", false},
		{"edge/v1/dev/a/b/status", "", "", false},
		{"edge/v2/dev/pi-1/status", "", "", false},
		{"edge/v1/devices/pi-1/status", "", "", false},
		{"/edge/v1/dev/pi-1/status", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		id, kind, err := ParseDeviceTopic(tt.topic)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDeviceTopic(%q) error = %v, want ok=%v", tt.topic, err, tt.ok)
			continue
		}
		if id != tt.id || kind != tt.kind {
			t.Errorf("ParseDeviceTopic(%q) = %q, %q, want %q, %q", tt.topic, id, kind, tt.id, tt.kind)
		}
	}
}

func TestTopicHelpers(t *testing.T) {
	if got, want := DeviceTopic("pi-1", KindStatus), "edge/v1/dev/pi-1/status"; got != want {
		t.Errorf("DeviceTopic = %q, want %q", got, want)
	}
	if got, want := DeviceWildcard(KindEvents), "edge/v1/dev/+/events"; got != want {
		t.Errorf("DeviceWildcard = %q, want %q", got, want)
	}
}
