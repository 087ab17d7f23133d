package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/internal/tlsfiles"
	"github.com/edgeplane/edge/wire"
)

// Credentials looks up a device's password hash; it returns an error (any)
// for unknown devices.
type Credentials interface {
	CredentialHash(ctx context.Context, id string) ([]byte, error)
}

// Hook is mochi's authentication and ACL hook for the embedded broker.
type Hook struct {
	mqtt.HookBase
	creds          Credentials
	controlHash    []byte
	allowAnonymous bool
	log            *slog.Logger

	// controlListener, when set (with TLS), is the only listener
	// auth.ControlUser may connect through, and the only one it may use.
	controlListener string
	// clientCerts: devices are identified by their verified client
	// certificate (see authenticateCert).
	clientCerts bool

	// onTakeover, when set, is told of each device session closed because
	// a new connection with its client id took it over.
	onTakeover func(device string)

	liveMu sync.Mutex
	live   map[string]*mqtt.Client // device id → its session (see OnSessionEstablished)
}

// NewHook returns a hook checking devices against creds and the controller
// against controlPassword. With allowAnonymous, clients that send no
// password are let in with full access (see the --allow-anonymous flag).
func NewHook(creds Credentials, controlPassword string, allowAnonymous bool, log *slog.Logger) *Hook {
	return &Hook{creds: creds, controlHash: auth.HashPassword(controlPassword), allowAnonymous: allowAnonymous, log: log}
}

// ID implements mqtt.Hook.
func (h *Hook) ID() string { return "edge-auth" }

// Provides implements mqtt.Hook.
func (h *Hook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnSessionEstablished || b == mqtt.OnDisconnect
}

// OnSessionEstablished implements mqtt.Hook. It keeps one session per
// device id: mochi hands a client id's session to a new connection, but
// two CONNECTs of one id at the same instant can both pass its check
// (attachClient looks the id up and adds the client without a lock), and
// two agents with one id then live side by side, neither told. Such a
// pair is stopped, both as taken over: the agents reconnect one after the
// other, and the takeover is seen and reported (OnDisconnect).
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if h.fullAccess(string(cl.Properties.Username)) || wire.ValidateDeviceID(cl.ID) != nil {
		return
	}
	h.liveMu.Lock()
	if h.live == nil {
		h.live = map[string]*mqtt.Client{}
	}
	old := h.live[cl.ID]
	h.live[cl.ID] = cl
	h.liveMu.Unlock()
	if old != nil && old != cl && !old.Closed() {
		h.log.Warn("two live sessions of one device id: both closed", "device", cl.ID, "remote", cl.Net.Remote, "other", old.Net.Remote)
		old.Stop(packets.ErrSessionTakenOver)
		cl.Stop(packets.ErrSessionTakenOver)
	}
}

// OnDisconnect implements mqtt.Hook: a device session taken over by a new
// connection of the same client id (MQTT 3.1.4-3) is reported to
// onTakeover, since two agents with one id take turns for ever (the agents
// themselves only see their connection closed).
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.liveMu.Lock()
	if h.live[cl.ID] == cl {
		delete(h.live, cl.ID)
	}
	h.liveMu.Unlock()
	if h.onTakeover == nil || !errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		return
	}
	id := cl.ID
	if h.fullAccess(string(cl.Properties.Username)) || wire.ValidateDeviceID(id) != nil {
		return
	}
	h.log.Warn("mqtt session taken over by a new connection of the same device id", "device", id, "remote", cl.Net.Remote)
	h.onTakeover(id)
}

var (
	errClientID = errors.New("client id must equal the username")
	errWill     = errors.New("last will topic not allowed")
	errListener = errors.New("user not allowed on this listener")
	errNoCert   = errors.New("no verified client certificate")
)

// OnConnectAuthenticate implements mqtt.Hook.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	err := h.authenticate(cl, pk)
	if err != nil {
		h.log.Warn("mqtt connect refused", "user", user, "client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "err", err)
		return false
	}
	h.log.Debug("mqtt client authenticated", "user", user, "client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote)
	return true
}

func (h *Hook) authenticate(cl *mqtt.Client, pk packets.Packet) error {
	c := pk.Connect
	user := string(c.Username)
	if h.controlListener != "" && (cl.Net.Listener == h.controlListener) != (user == auth.ControlUser) {
		// The plain loopback listener is the controller's alone, and the
		// controller's user cannot come in over the network.
		return errListener
	}
	if h.clientCerts && user != auth.ControlUser {
		return h.authenticateCert(cl, pk)
	}
	if h.allowAnonymous && !c.PasswordFlag {
		return h.checkWill(user, pk)
	}
	if !c.UsernameFlag || !c.PasswordFlag {
		return auth.ErrBadPassword
	}
	if user == auth.ControlUser {
		if err := auth.CheckPassword(h.controlHash, string(c.Password)); err != nil {
			return err
		}
		if !bytes.HasPrefix([]byte(c.ClientIdentifier), []byte(auth.ControlUser)) {
			return errClientID
		}
		return nil
	}
	if err := wire.ValidateDeviceID(user); err != nil {
		auth.CheckPassword(nil, string(c.Password))
		return auth.ErrBadPassword
	}
	hash, err := h.creds.CredentialHash(context.Background(), user)
	if err != nil {
		hash = nil // unknown device: compare against a dummy
	}
	if err := auth.CheckPassword(hash, string(c.Password)); err != nil {
		return err
	}
	if c.ClientIdentifier != user {
		return errClientID
	}
	return h.checkWill(user, pk)
}

// checkWill refuses a Last Will the client could not publish itself.
func (h *Hook) checkWill(user string, pk packets.Packet) error {
	if !pk.Connect.WillFlag || h.fullAccess(user) {
		return nil
	}
	if !auth.DeviceAllowed(user, pk.Connect.WillTopic, true) {
		return errWill
	}
	return nil
}

// fullAccess reports whether an authenticated user may do everything: the
// controller, and anonymous clients when they are allowed at all.
func (h *Hook) fullAccess(user string) bool {
	return user == auth.ControlUser || (user == "" && h.allowAnonymous)
}

// OnACLCheck implements mqtt.Hook. The username was authenticated at
// connect (or is an anonymous client's claim, when anonymous clients are
// allowed: then it can only restrict itself).
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if h.fullAccess(user) || auth.DeviceAllowed(user, topic, write) {
		return true
	}
	h.log.Warn("mqtt access denied", "user", user, "client", cl.ID, "topic", topic, "write", write)
	return false
}

// authenticateCert admits a device by its client certificate, which the
// TLS listener has verified against the --client-ca pool: the
// certificate's CommonName (tlsfiles.Identity) is the device id. The
// device must be registered (edgectl device add): removing it revokes the
// certificate's access at once, whatever its expiry. The username, when
// sent, must be that id (it is set to it otherwise, for the ACL); a
// password, when sent, must be the device's too.
func (h *Hook) authenticateCert(cl *mqtt.Client, pk packets.Packet) error {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return errNoCert
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errNoCert
	}
	id := tlsfiles.Identity(certs[0])
	if err := wire.ValidateDeviceID(id); err != nil {
		return fmt.Errorf("client certificate names %q: %w", id, err)
	}
	c := pk.Connect
	if user := string(c.Username); user != "" && user != id {
		return fmt.Errorf("username %q is not the certificate's device %q: %w", user, id, auth.ErrBadPassword)
	}
	if c.ClientIdentifier != id {
		return errClientID
	}
	hash, err := h.creds.CredentialHash(context.Background(), id)
	if err != nil {
		return fmt.Errorf("device %s not registered (or removed): %w", id, auth.ErrBadPassword)
	}
	if c.PasswordFlag {
		if err := auth.CheckPassword(hash, string(c.Password)); err != nil {
			return err
		}
	}
	cl.Properties.Username = []byte(id)
	return h.checkWill(id, pk)
}
