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
// The broker bounds every packet (MaxPacketSize): module bytes travel as
// chunks of wire.ChunkSize, well below it.
package broker
