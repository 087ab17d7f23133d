package store

import "time"

// Now is the agent's trusted time: the later of the system clock and the
// floor on disk (see the package doc).
func (s *Store) Now() time.Time {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Floor.After(now) {
		return s.st.Floor
	}
	return now
}

// Floor is the latest verified time on disk.
func (s *Store) Floor() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Floor
}

// ObserveTime raises the floor to t (the Created time of a manifest whose
// signature was verified). A t at or below the floor changes nothing.
func (s *Store) ObserveTime(t time.Time) error {
	if !t.After(s.Floor()) {
		return nil
	}
	return s.update(func(st *state) error {
		if t.After(st.Floor) {
			st.Floor = t.UTC()
		}
		return nil
	})
}

// SaveClock records the system clock as the floor when it is not behind
// the floor (a clock behind it is certainly wrong). Call it periodically,
// e.g. every 10 minutes, so a reboot into 1970 loses little.
func (s *Store) SaveClock() error {
	return s.ObserveTime(s.clock())
}
