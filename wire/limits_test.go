package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// largestModule is a desired module at every limit at once: the largest
// manifest, MaxSignatures signatures, MaxChunks chunk hashes.
func largestModule() DesiredModule {
	sig := Signature{KeyID: strings.Repeat("f", 16), Sig: bytes.Repeat([]byte{0xff}, 64)}
	hash := strings.Repeat("ab", 32)
	chunks := make([]string, MaxChunks)
	for i := range chunks {
		chunks[i] = hash
	}
	return DesiredModule{
		Deployment: "d-" + strings.Repeat("0", 16),
		Envelope: Envelope{PayloadType: PayloadType, Payload: bytes.Repeat([]byte("m"), MaxManifestSize),
			Signatures: slicesRepeat(sig, MaxSignatures)},
		Blob: BlobRef{SHA256: hash, Size: MaxModuleSize, Encoding: EncodingGzip, Stored: MaxChunks * ChunkSize, Chunks: chunks},
	}
}

func slicesRepeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestLimitsFit checks the inequalities the path relies on, so that a
// change to one limit that breaks another fails here rather than on a
// fleet.
func TestLimitsFit(t *testing.T) {
	topic := DeviceTopic(strings.Repeat("d", 63), KindMetrics)
	if len(topic) > MaxTopicSize {
		t.Errorf("longest device topic %d bytes > MaxTopicSize %d", len(topic), MaxTopicSize)
	}
	for _, tc := range []struct {
		what    string
		payload int
	}{
		{"largest chunk frame", MaxChunkFrameSize},
		{"largest report", MaxReportSize},
		{"largest desired state", MaxDesiredSize},
	} {
		if err := CheckPublish(topic, 1, tc.payload); err != nil {
			t.Errorf("%s does not fit in one MQTT packet: %v", tc.what, err)
		}
	}
	ds, _ := json.Marshal(DesiredState{Device: strings.Repeat("d", 63), Generation: 1 << 62, Modules: []DesiredModule{largestModule()}})
	if len(ds) > MaxDesiredSize {
		t.Errorf("a desired state with the largest module is %d bytes > MaxDesiredSize %d", len(ds), MaxDesiredSize)
	}
	req, _ := json.Marshal(DeployRequest{Envelope: largestModule().Envelope})
	if len(req) > MaxDeployRequestSize {
		t.Errorf("the largest deploy request is %d bytes > MaxDeployRequestSize %d", len(req), MaxDeployRequestSize)
	}
	fetch, _ := json.Marshal(FetchChunks{SHA256: strings.Repeat("ab", 32), Indices: make([]int, MaxChunks)})
	fetch = bytes.ReplaceAll(fetch, []byte("0"), []byte("1024")) // the widest indices
	if len(fetch) > MaxReportSize {
		t.Errorf("a fetch of every chunk is %d bytes > MaxReportSize %d", len(fetch), MaxReportSize)
	}
	if MaxChunks*ChunkSize < MaxModuleSize {
		t.Errorf("MaxChunks chunks cannot carry a module of MaxModuleSize")
	}
}

func TestCheckPublish(t *testing.T) {
	topic := DeviceTopic("pi-1", KindDesired)
	max := MaxPacketSize - (1 + 3 + 2 + len(topic) + 2) // 3 length bytes at this size
	for _, tc := range []struct {
		payload int
		ok      bool
	}{{0, true}, {max, true}, {max + 1, false}, {MaxPacketSize, false}} {
		err := CheckPublish(topic, 1, tc.payload)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrTooLarge)) {
			t.Errorf("CheckPublish(%d payload bytes) = %v, want ok=%v", tc.payload, err, tc.ok)
		}
	}
	if got := PublishPacketSize("a/b", 0, 10); got != 2+2+3+10 {
		t.Errorf("PublishPacketSize(3-byte topic, QoS 0, 10) = %d, want 17", got)
	}
	if got := PublishPacketSize("a/b", 1, 200); got != 1+2+2+3+2+200 {
		t.Errorf("PublishPacketSize(3-byte topic, QoS 1, 200) = %d, want 210", got)
	}
	if err := CheckPublish(strings.Repeat("t", MaxTopicSize+1), 0, 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CheckPublish(long topic) = %v, want ErrTooLarge", err)
	}
}
