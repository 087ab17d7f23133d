// Package session is the agent's MQTT session with the controller, through
// paho (github.com/eclipse/paho.mqtt.golang, MQTT 3.1.1).
//
// The device authenticates as client id = username = device id, with a
// persistent session (CleanSession false); it reconnects by itself, with
// exponential back-off capped by Config.MaxReconnect, and notices a second
// agent using its device id, whose connections end its own (takeover.go):
// it logs an error, sends an id_conflict event and waits longer and longer
// before each reconnect. Its Last Will is a
// retained wire.Status{Online: false} at QoS 1 on its status topic, so the
// controller learns of a dead board from the broker. On every (re)connect it
// subscribes to its desired and chunks topics (and logreq, with a
// LogSource) and republishes its retained Status with Online true.
//
// The status carries Config.Status (agent version, arch, board, engine,
// labels) from the first connect, before any desired state arrived, and
// so does the Will: a controller targets devices by label, and a fresh
// agent must be targetable at once. PublishStatus never waits for the
// broker: the latest status is published in the background.
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
//     is retained and latest-wins, metrics are QoS 0 and best effort:
//     PublishMetrics returns ErrNotConnected while offline and the caller
//     counts the report as dropped (agent/metrics).
//   - Log requests (wire.LogRequest) are read from the device's own logreq
//     topic only, decoded with wire.Decode, and answered one at a time
//     with one wire.LogBatch on its logs topic (QoS 1); at most 4 wait,
//     more are dropped.
//   - Module bytes are pulled, not pushed: Fetch asks for missing chunk
//     indices in windows, checks each frame against the BlobRef, keeps it in
//     the store's partial area and asks again for what is still missing after
//     a timeout or a reconnect. A restart resumes from the chunks on disk.
//
// # Bounds
//
// Every size is one of wire's limits (wire/limits.go). The connection is
// dialed through internal/mqttdial, so no packet over wire.MaxPacketSize
// is ever allocated: paho's v3 client would allocate whatever length a
// packet declares, and the broker's max_packet_size is not ours to trust.
// An oversize PUBLISH arrives empty (logged) and the session stays up.
// Chunk frames over wire.MaxChunkFrameSize and desired states over
// wire.MaxDesiredSize are dropped before decoding; desired states are
// decoded with wire.Decode, the controller's own parser. Reports are cut
// (reasons to wire.MaxReasonSize) and checked against wire.MaxReportSize
// before they are queued or published: a report the controller would drop
// or the broker would answer by closing the connection is never sent.
//
// A transfer holds at most 2×FetchWindow chunks in memory (the rest is on
// disk in the store's partial area) and gives up with ErrStalled after
// FetchStall without progress, freeing them.
package session
