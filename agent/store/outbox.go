package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// MaxOutbox bounds the outbox; past it the oldest entries are dropped (and
// logged) so a board offline for weeks cannot fill its flash.
const MaxOutbox = 4096

// Outbox is a durable FIFO of reports that must survive a broker outage or
// an agent restart: one atomic file per entry, named by a sequence number.
type Outbox struct {
	dir string
	log *slog.Logger

	mu   sync.Mutex
	seqs []uint64 // in order
	next uint64
}

// Entry is one queued report.
type Entry struct {
	Seq  uint64
	Data []byte
}

func openOutbox(dir string, log *slog.Logger) (*Outbox, error) {
	o := &Outbox{dir: dir, log: log, next: 1}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		o.seqs = append(o.seqs, seq)
		o.next = max(o.next, seq+1)
	}
	slices.Sort(o.seqs)
	return o, nil
}

func (o *Outbox) file(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d.json", seq))
}

// Append queues data durably.
func (o *Outbox) Append(data []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := o.next
	if err := atomicfile.Write(o.file(seq), data, 0o600); err != nil {
		return fmt.Errorf("outbox append: %w", err)
	}
	o.next++
	o.seqs = append(o.seqs, seq)
	for len(o.seqs) > MaxOutbox {
		o.log.Warn("outbox full; dropping oldest report", "seq", o.seqs[0])
		os.Remove(o.file(o.seqs[0]))
		o.seqs = o.seqs[1:]
	}
	return nil
}

// Peek returns the oldest entry, or ok=false when the outbox is empty. An
// unreadable entry is dropped and logged.
func (o *Outbox) Peek() (e Entry, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.seqs) > 0 {
		seq := o.seqs[0]
		b, err := os.ReadFile(o.file(seq))
		if err == nil {
			return Entry{Seq: seq, Data: b}, true
		}
		o.log.Error("outbox entry unreadable; dropping", "seq", seq, "err", err)
		os.Remove(o.file(seq))
		o.seqs = o.seqs[1:]
	}
	return Entry{}, false
}

// Ack removes an entry once the broker has it.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := slices.Index(o.seqs, seq)
	if i < 0 {
		return nil
	}
	if err := atomicfile.Remove(o.file(seq)); err != nil {
		return fmt.Errorf("outbox ack: %w", err)
	}
	o.seqs = slices.Delete(o.seqs, i, i+1)
	return nil
}

// Len is the number of queued entries.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs)
}
