package wire

import (
	"errors"
	"fmt"
)

// Size limits of everything on the path from the operator to a board. They
// are one set, derived from each other here, so that no two parts of the
// path disagree (a controller that accepts a deployment the broker cannot
// carry, or a broker that carries what an agent refuses). Each limit is
// checked at the first place the data enters:
//
//	what                  limit                     first checked by
//	module bytes          MaxModuleSize             edgectl push; controller upload (413)
//	signed manifest       MaxManifestSize           edgectl push (Sign); controller deploy (413)
//	  (config values are part of it)
//	deploy request body   MaxDeployRequestSize      controller API (413)
//	other API bodies      MaxRequestSize            controller API (413)
//	API answers           MaxAnswerSize             edgectl
//	desired state         MaxDesiredSize            controller deploy: 413 naming the device
//	chunk frame           MaxChunkFrameSize         agent (frames arrive from the broker)
//	device reports        MaxReportSize             agent before publishing; controller on receipt
//	MQTT packet           MaxPacketSize             embedded broker, deploy/mosquitto, both
//	                                                clients' reads (internal/mqttdial) and
//	                                                publishes (PublishPacketSize)
//
// The inequalities that make the path work are checked by TestLimitsFit:
// the largest chunk frame, report and desired state each fit in one packet,
// and one desired module with the largest manifest and chunk list fits in a
// desired state.
const (
	// MaxPacketSize bounds every MQTT packet, in both directions: the
	// embedded broker's maximum, Mosquitto's max_packet_size in deploy/,
	// and what the controller's and the agent's clients read or send.
	MaxPacketSize = 256 << 10

	// MaxTopicSize bounds a topic: "edge/v1/dev/" + a 63-byte device id +
	// "/" + a kind fits with room to spare.
	MaxTopicSize = 128

	// publishOverhead is the most a PUBLISH packet adds to its payload:
	// fixed header (1 + up to 4 length bytes), topic length (2) and topic,
	// packet identifier (2).
	publishOverhead = 1 + 4 + 2 + MaxTopicSize + 2

	// MaxPayloadSize is the largest message payload any publish may carry.
	MaxPayloadSize = MaxPacketSize - publishOverhead

	// MaxDesiredSize bounds one device's encoded DesiredState: it travels
	// as one retained message.
	MaxDesiredSize = MaxPayloadSize

	// MaxReportSize bounds what a device sends: Status, Event, Metrics,
	// FetchChunks.
	MaxReportSize = 64 << 10

	// MaxReasonSize bounds the reason of an Event or the error of a
	// ModuleStatus; longer text is cut by the sender (and again by the
	// controller).
	MaxReasonSize = 1 << 10

	// MaxModuleSize bounds raw module bytes.
	MaxModuleSize = 64 << 20

	// MaxManifestSize bounds an encoded manifest, config values included.
	MaxManifestSize = 64 << 10

	// ChunkSize is the size of every chunk but the last.
	ChunkSize = 64 << 10

	// MaxChunkFrameSize is the largest encoded Chunk frame.
	MaxChunkFrameSize = chunkHeader + ChunkSize

	// MaxChunks bounds the chunk count a BlobRef may declare. gzip can
	// grow incompressible data a little, hence the +1.
	MaxChunks = MaxModuleSize/ChunkSize + 1

	// MaxDeployRequestSize bounds the body of POST /api/v1/deployments: a
	// DeployRequest whose envelope carries the largest manifest (base64)
	// and up to MaxSignatures signatures.
	MaxDeployRequestSize = 4*(MaxManifestSize+2)/3 + MaxSignatures*signatureJSON + 1<<10

	// MaxSignatures bounds the signatures of an Envelope.
	MaxSignatures = 8

	// signatureJSON is the most one encoded Signature takes: key id (16
	// hex digits) and a base64 ed25519 signature (88 bytes) plus names.
	signatureJSON = 160

	// MaxRequestSize bounds every other API request body.
	MaxRequestSize = 4 << 10

	// MaxModules bounds the modules in one device's desired state (the
	// controller refuses a deployment that would exceed it, naming the
	// device), and so the series a device adds to the controller's
	// /metrics: at most two versions of each during a switch.
	MaxModules = 32

	// MaxQuarantineReport bounds the quarantine entries a Status carries
	// (the newest), and MaxQuarantineReason the bytes of each reason
	// there: 16 × ~400 bytes stays far below MaxReportSize beside the
	// module states.
	MaxQuarantineReport = 16
	MaxQuarantineReason = 256

	// MaxLogLines bounds the lines of one LogBatch; MaxLogLineSize the
	// bytes of one line's message (longer ones are cut by the agent).
	MaxLogLines    = 500
	MaxLogLineSize = 1 << 10

	// MaxAnswerSize bounds an API answer edgectl reads (a list of
	// deployments with their devices).
	MaxAnswerSize = 16 << 20

	// MaxRollbacks bounds the rollback statements of a rollout, so the
	// distinct versions its targets may run: roll out to more mixed
	// fleets in groups.
	MaxRollbacks = 8

	// MaxRolloutRequestSize bounds the body of POST /api/v1/rollouts: the
	// new version's envelope and MaxRollbacks rollback envelopes, each at
	// most a deploy request's size.
	MaxRolloutRequestSize = (1+MaxRollbacks)*MaxDeployRequestSize + 4<<10

	// MaxLabels bounds the labels of a device from each source: those the
	// operator sets centrally, those its agent declares.
	MaxLabels = 32
)

// ErrTooLarge is wrapped by every error about a size limit; the API
// answers it with 413.
var ErrTooLarge = errors.New("too large")

// SizeError is a size limit that was exceeded. It wraps ErrTooLarge.
type SizeError struct {
	What  string // "desired state of device pi-1", "manifest", ...
	Size  int64  // the size it would have
	Limit int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s: %d bytes exceeds the limit of %d bytes", e.What, e.Size, e.Limit)
}

func (e *SizeError) Unwrap() error { return ErrTooLarge }

// PublishPacketSize is the size of the MQTT PUBLISH packet that carries
// payloadLen bytes on topic at QoS qos.
func PublishPacketSize(topic string, qos byte, payloadLen int) int {
	rest := 2 + len(topic) + payloadLen
	if qos > 0 {
		rest += 2
	}
	n := 1 + 1
	for l := rest; l >= 128; l >>= 7 {
		n++
	}
	return n + rest
}

// CheckPublish refuses a publish whose packet would exceed MaxPacketSize,
// before it is sent: a broker disconnects a client that sends an oversize
// packet, which would take down a session other devices depend on.
func CheckPublish(topic string, qos byte, payloadLen int) error {
	if len(topic) > MaxTopicSize {
		return &SizeError{What: "topic " + topic, Size: int64(len(topic)), Limit: MaxTopicSize}
	}
	if n := PublishPacketSize(topic, qos, payloadLen); n > MaxPacketSize {
		return &SizeError{What: "MQTT packet on " + topic, Size: int64(n), Limit: MaxPacketSize}
	}
	return nil
}
