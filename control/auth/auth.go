// Package auth holds the controller's MQTT credentials and access rules,
// apart from any broker, so the embedded broker's hook, the HTTP API that
// issues credentials and the Mosquitto ACL in deploy/ agree on one rule set.
//
// # Credentials
//
// A device authenticates with username = its device id and a password the
// controller generated (32 random bytes, base64url). The controller keeps
// only SHA-256 of the password: the secret has 256 bits of entropy, so a
// slow password hash would add nothing, and a leaked database yields no
// usable password. Comparison is constant-time.
//
// # Access rules
//
// Rules are keyed on the authenticated username, never on the client id: a
// rule on the client id lets a device read another's desired state by
// connecting under the other's id. The broker additionally requires the
// client id to equal the username, so one device cannot take over (and
// disconnect) another's session either.
//
//	device U  subscribe  edge/v1/dev/U/{desired,chunks,logreq}
//	device U  publish    edge/v1/dev/U/{status,events,metrics,fetch,logs}
//	device U  publish    edge/v1/dev/U/app/#     its modules' messages
//	device U  subscribe  edge/v1/dev/+/app/#     every device's module messages
//	device U  subscribe  edge/v1/dev/U/in/#      its inbox (the controller writes)
//	controller           everything
//
// Control topics are compared as exact strings, so a device can use no
// wildcard on them and no shared subscription. In the messaging namespaces
// (wire/messaging.go) a device may subscribe with wildcards to a filter
// that reads nothing outside its grant (wire.FilterCovers): the broker
// checks a subscription's filter and, again, each message's topic on
// delivery. Module messages are readable across the fleet (a board's
// module may consume another board's readings); a device's inbox only by
// itself; only a device itself publishes under its id.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"github.com/edgeplane/edge/wire"
)

// ControlUser is the MQTT username (and client id prefix) of the
// controller's own client on the embedded broker. It is not a valid device
// id (it starts with '_'), so no device can be registered under it.
const ControlUser = "_edge-control"

// ErrBadPassword is returned when a password does not match.
var ErrBadPassword = errors.New("bad username or password")

// NewPassword returns a fresh random password and the hash to store.
func NewPassword() (password string, hash []byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead)
	password = base64.RawURLEncoding.EncodeToString(b[:])
	return password, HashPassword(password)
}

// HashPassword returns the stored form of a password.
func HashPassword(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return sum[:]
}

// CheckPassword compares password with a stored hash in constant time. A nil
// hash (unknown user) is compared against a dummy so that timing does not
// tell known from unknown users.
func CheckPassword(hash []byte, password string) error {
	got := HashPassword(password)
	want := hash
	if len(want) != len(got) {
		want = make([]byte, len(got))
		subtle.ConstantTimeCompare(got, want)
		return ErrBadPassword
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrBadPassword
	}
	return nil
}

// deviceRead and deviceWrite are the topic kinds a device may subscribe to
// and publish on, under its own id only.
var (
	deviceRead  = []string{wire.KindDesired, wire.KindChunks, wire.KindLogReq}
	deviceWrite = []string{wire.KindStatus, wire.KindEvents, wire.KindMetrics, wire.KindFetch, wire.KindLogs}
)

// DeviceAllowed reports whether device user may publish (write) on or
// subscribe to (read) topic. The topic is compared exactly: wildcards are
// never granted to devices.
func DeviceAllowed(user, topic string, write bool) bool {
	if wire.ValidateDeviceID(user) != nil {
		return false
	}
	kinds := deviceRead
	if write {
		kinds = deviceWrite
	}
	for _, k := range kinds {
		if topic == wire.DeviceTopic(user, k) {
			return true
		}
	}
	if wire.ValidateFilter(topic) != nil {
		return false
	}
	if write {
		// A topic, never a filter; and only under the device's own id.
		return wire.ValidateTopic(topic) == nil && wire.FilterCovers(wire.DeviceTopic(user, wire.KindApp)+"/#", topic)
	}
	return wire.FilterCovers(wire.DeviceWildcard(wire.KindApp)+"/#", topic) ||
		wire.FilterCovers(wire.DeviceTopic(user, wire.KindInbox)+"/#", topic)
}
