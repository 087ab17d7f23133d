// Package mqttdial is how the agent and the controller connect to a broker
// through paho (MQTT 3.1.1): every packet they read is bounded, and every
// failed connection attempt is explained.
//
// # Bounded reads
//
// paho's client has no maximum-packet option and allocates whatever length
// a packet declares before reading it (up to 256 MB), so the broker's
// max_packet_size is all that stands between a misconfigured or hostile
// broker and a board's memory. Both programs dial through Opener, which
// wraps the connection in a reader that follows the packet boundaries of
// the stream:
//
//   - a packet within the limit passes through untouched;
//   - a PUBLISH over the limit reaches paho as the same PUBLISH (topic,
//     QoS, retain flag, packet id) with an empty payload, and its payload
//     bytes are read and discarded, never held. paho acknowledges it as
//     usual, so the session and the broker's in-flight window stay intact,
//     and the drop is reported (the agent then logs "dropping desired
//     state: empty" after the drop record, rather than losing its
//     connection in a loop that would recur on every reconnect);
//   - any other packet over the limit is a broken broker: the read fails
//     and paho reconnects.
//
// Both programs use wire.MaxPacketSize as the limit.
//
// # Why an attempt failed
//
// Explain turns paho's connection errors into a Failure with a Kind
// (refused, bad credentials, not authorized, DNS, TLS, timeout, closed) for
// logs, the agent's status and the controller's start-up error. A port that
// speaks the other protocol shows only as a closed connection (a TLS port
// closes on a plain CONNECT: "EOF"; a plain broker resets a TLS handshake),
// so ExplainAt, given the URL dialled, adds a hint to try ssl:// (or
// tcp://) to the first attempts' failures.
//
// The package imports paho for its websocket dialer and its error values
// (rule in tests/deps).
package mqttdial
