package auth

import (
	"errors"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func TestPassword(t *testing.T) {
	pw, hash := NewPassword()
	if len(pw) != 43 {
		t.Errorf("len(password) = %d, want 43", len(pw))
	}
	if err := CheckPassword(hash, pw); err != nil {
		t.Errorf("CheckPassword(right) = %v, want nil", err)
	}
	for _, tc := range []struct {
		name string
		hash []byte
		pw   string
	}{
		{"wrong password", hash, pw + "x"},
		{"empty password", hash, ""},
		{"unknown user", nil, pw},
		{"short hash", hash[:5], pw},
	} {
		if err := CheckPassword(tc.hash, tc.pw); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%s: CheckPassword = %v, want ErrBadPassword", tc.name, err)
		}
	}
}

func TestDeviceAllowed(t *testing.T) {
	for _, tc := range []struct {
		user, topic string
		write, want bool
	}{
		{"a", wire.DeviceTopic("a", wire.KindDesired), false, true},
		{"a", wire.DeviceTopic("a", wire.KindChunks), false, true},
		{"a", wire.DeviceTopic("a", wire.KindDesired), true, false},
		{"a", wire.DeviceTopic("a", wire.KindStatus), true, true},
		{"a", wire.DeviceTopic("a", wire.KindEvents), true, true},
		{"a", wire.DeviceTopic("a", wire.KindMetrics), true, true},
		{"a", wire.DeviceTopic("a", wire.KindFetch), true, true},
		{"a", wire.DeviceTopic("a", wire.KindStatus), false, false},
		{"a", wire.DeviceTopic("a", wire.KindLogReq), false, true},
		{"a", wire.DeviceTopic("a", wire.KindLogReq), true, false},
		{"a", wire.DeviceTopic("a", wire.KindLogs), true, true},
		{"a", wire.DeviceTopic("a", wire.KindLogs), false, false},
		{"a", wire.DeviceTopic("b", wire.KindLogReq), false, false},
		{"a", wire.DeviceTopic("b", wire.KindLogs), true, false},
		{"a", wire.DeviceTopic("b", wire.KindLogs), false, false},
		{"a", wire.DeviceTopic("b", wire.KindDesired), false, false},
		{"a", wire.DeviceTopic("b", wire.KindStatus), true, false},
		{"a", wire.DeviceWildcard(wire.KindDesired), false, false},
		{"a", "edge/v1/dev/a/#", false, false},
		{"a", "$share/g/" + wire.DeviceTopic("a", wire.KindDesired), false, false},
		{"+", wire.DeviceTopic("+", wire.KindDesired), false, false},
		{"", wire.DeviceTopic("", wire.KindDesired), false, false},
		{ControlUser, wire.DeviceTopic(ControlUser, wire.KindDesired), false, false},
		// Messaging: a device publishes under its own app namespace,
		// reads every device's, and reads only its own inbox.
		{"a", "edge/v1/dev/a/app/telemetry/alerts", true, true},
		{"a", "edge/v1/dev/a/app/telemetry/+", true, false},
		{"a", "edge/v1/dev/b/app/telemetry/alerts", true, false},
		{"a", "edge/v1/dev/a/in/x", true, false},
		{"a", "edge/v1/dev/b/app/sensor/temp", false, true},
		{"a", "edge/v1/dev/+/app/sensor/#", false, true},
		{"a", "edge/v1/dev/+/app/#", false, true},
		{"a", "edge/v1/dev/+/#", false, false},
		{"a", "edge/v1/dev/a/in/readings/#", false, true},
		{"a", "edge/v1/dev/b/in/readings", false, false},
		{"a", "edge/v1/dev/+/in/readings", false, false},
		{"a", "$share/g/edge/v1/dev/+/app/#", false, false},
		{"a", "edge/v1/dev/a/app/x/#/y", false, false},
	} {
		if got := DeviceAllowed(tc.user, tc.topic, tc.write); got != tc.want {
			t.Errorf("DeviceAllowed(%q, %q, write=%v) = %v, want %v", tc.user, tc.topic, tc.write, got, tc.want)
		}
	}
}
