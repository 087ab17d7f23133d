package fleet

import (
	"strings"
	"sync"

	"github.com/edgeplane/edge/wire"
)

// labelWarnings remembers, per device, the labels of its status last
// dropped, so that an agent that keeps sending the same invalid labels is
// logged once, not at every status.
type labelWarnings struct {
	mu   sync.Mutex
	seen map[string]string // device → dropped keys, joined
}

// checkStatusLabels keeps only the valid labels of st (wire.ValidLabels:
// the rules of central labels): an agent's own labels are checked by the
// agent at start, and again here, as a status may come from an older or
// a hostile agent. The first drop of a set of labels per device is logged.
func (f *Fleet) checkStatusLabels(log logger, st *wire.Status) {
	valid, dropped := wire.ValidLabels(st.Labels)
	if dropped == nil {
		return
	}
	st.Labels = valid
	key := strings.Join(dropped, "\x00")
	w := &f.labelWarned
	w.mu.Lock()
	first := w.seen[st.Device] != key
	if first {
		if w.seen == nil {
			w.seen = map[string]string{}
		}
		w.seen[st.Device] = key
	}
	w.mu.Unlock()
	if first {
		log.Warn("agent labels dropped: they break the rules of central labels", "labels", dropped, "kept", len(valid))
	}
}
