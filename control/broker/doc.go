// Package broker embeds an MQTT broker (mochi-mqtt v2) so that one
// edge-control command starts a working control plane. Larger fleets point
// edge-control at an external broker instead; the controller then talks to
// either through the same MQTT client, so there is one code path.
//
// The broker authenticates every client through Hook: devices with their
// device id as username and client id and the password issued by the API;
// the controller's own client as auth.ControlUser with a password generated
// at each start and never stored. Access rules are those of package auth,
// keyed on the authenticated username. A device's Last Will is checked
// against the same rules at connect time, because mochi publishes wills
// without an ACL check: otherwise a device could leave a retained message on
// another device's desired topic.
//
// With Config.TLS the device listener speaks MQTTS, and the controller's
// client connects through a second, plain listener on a random loopback
// port (ControlAddr) that admits auth.ControlUser only, while
// auth.ControlUser is refused on the device listener. With a TLS
// configuration that requires client certificates (edge-control
// --client-ca), a device is identified by its verified certificate's
// CommonName (tlsfiles.Identity), must be registered, and must send that
// id (or nothing) as username and that id as client id; a password, if
// sent, must match too.
//
// Disconnect ends a device's session without its Last Will and discards
// its persistent session: the controller calls it when a device is
// removed or its password rotated.
//
// The broker bounds every packet (MaxPacketSize): module bytes travel as
// chunks of wire.ChunkSize, well below it.
package broker
