// Package session is the agent's MQTT session with the controller, through
// paho (github.com/eclipse/paho.mqtt.golang, MQTT 3.1.1).
//
// The device authenticates as client id = username = device id, with a
// persistent session (CleanSession false) and auto-reconnect with paho's
// exponential back-off (capped by Config.MaxReconnect). Its Last Will is a
// retained wire.Status{Online: false} at QoS 1 on its status topic, so the
// controller learns of a dead board from the broker. On every (re)connect it
// subscribes to its desired and chunks topics and republishes its retained
// Status with Online true.
//
// # Delivery rules
//
//   - Desired states are level-triggered: the newest one wins. Bad JSON,
//     another device's state, or a generation lower than one already seen
//     is logged and dropped; the channel holds only the latest state.
//   - Reports that must not be lost (Events) go through the store's durable
//     outbox and are published in order when connected; an entry leaves the
//     outbox once the broker acknowledged it (a PUBACK means only "the broker
//     has it"; success of a deployment is the device's own report). Status
//     is retained and latest-wins, metrics are QoS 0 and best effort.
//   - Module bytes are pulled, not pushed: Fetch asks for missing chunk
//     indices in windows, checks each frame against the BlobRef, keeps it in
//     the store's partial area and asks again for what is still missing after
//     a timeout or a reconnect. A restart resumes from the chunks on disk.
//
// # Bounds
//
// Chunk frames longer than the header plus wire.ChunkSize and desired
// states over MaxDesiredBytes are dropped before decoding. paho's v3
// client allocates a packet's declared length before reading it and has no
// maximum-packet option, so the broker's max_packet_size (see deploy/) is
// what bounds allocation; these checks bound everything after it.
package session
