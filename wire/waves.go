package wire

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A staged rollout's waves (RolloutRequest.Waves) are cumulative: each
// entry is the number of targeted devices reached by the end of its wave,
// as a count ("1") or as a percentage of the targets ("10%"). edgectl
// checks them with ParseWaves before it signs or uploads anything; the
// controller resolves them against the targets with WaveEnds. Both use
// this one parser, so both say the same about the same spec.

// Wave is one parsed entry of RolloutRequest.Waves.
type Wave struct {
	Count   int     // devices reached, when Percent is 0
	Percent float64 // share of the targeted devices reached, 0 < Percent <= 100
}

// ParseWaves parses a wave spec and checks what holds whatever the number
// of targets: each entry a count (digits, 1 or more) or a percentage
// (digits with an optional fraction, above 0 and up to 100, then %);
// counts never go down, nor do percentages (waves are cumulative); the
// last is a count or 100% (WaveEnds checks that a count reaches every
// target).
func ParseWaves(spec []string) ([]Wave, error) {
	waves := make([]Wave, 0, len(spec))
	var lastCount int
	var lastPct float64
	for i, s := range spec {
		w, err := parseWave(s)
		if err != nil {
			return nil, err
		}
		switch {
		case w.Percent > 0 && w.Percent < lastPct:
			return nil, fmt.Errorf("waves are cumulative: %q is less than %v%% before it", s, lastPct)
		case w.Percent > 0 && i == len(spec)-1 && w.Percent != 100:
			return nil, fmt.Errorf("the last wave is %s: end the waves with 100%%", s)
		case w.Percent == 0 && w.Count < lastCount:
			return nil, fmt.Errorf("waves are cumulative: %q is fewer devices than %d before it", s, lastCount)
		}
		lastCount, lastPct = max(lastCount, w.Count), max(lastPct, w.Percent)
		waves = append(waves, w)
	}
	return waves, nil
}

func parseWave(s string) (Wave, error) {
	num, pct := strings.CutSuffix(s, "%")
	digits := num != "" && strings.Trim(num, "0123456789") == ""
	if pct {
		whole, frac, _ := strings.Cut(num, ".")
		ok := whole != "" && strings.Trim(whole, "0123456789") == "" && strings.Trim(frac, "0123456789") == ""
		p, err := strconv.ParseFloat(num, 64)
		if !ok || err != nil || p <= 0 || p > 100 {
			return Wave{}, fmt.Errorf("wave %q: want a count like 1 or a percentage like 10%% (up to 100%%)", s)
		}
		return Wave{Percent: p}, nil
	}
	c, err := strconv.Atoi(num)
	if !digits || err != nil || c < 1 {
		return Wave{}, fmt.Errorf("wave %q: want a count like 1 or a percentage like 10%%", s)
	}
	return Wave{Count: c}, nil
}

// Reach is the number of n targeted devices reached by the end of w: a
// percentage rounds up (at least one device), and no wave reaches more
// than n.
func (w Wave) Reach(n int) int {
	if w.Percent > 0 {
		return min(n, max(1, int(math.Ceil(w.Percent*float64(n)/100-1e-9))))
	}
	return min(n, w.Count)
}

// WaveEnds resolves a wave spec (ParseWaves) against n targeted devices
// into the cumulative device count at the end of each wave. Waves that
// add no device are dropped; the last must reach all n. No spec is one
// wave of every device.
func WaveEnds(spec []string, n int) ([]int, error) {
	if len(spec) == 0 {
		return []int{n}, nil
	}
	waves, err := ParseWaves(spec)
	if err != nil {
		return nil, err
	}
	var ends []int
	for i, w := range waves {
		k := w.Reach(n)
		if len(ends) > 0 && k < ends[len(ends)-1] {
			return nil, fmt.Errorf("waves are cumulative: %q reaches %d of %d devices, fewer than the wave before (%d)", spec[i], k, n, ends[len(ends)-1])
		}
		if len(ends) == 0 || k > ends[len(ends)-1] {
			ends = append(ends, k)
		}
	}
	if last := ends[len(ends)-1]; last != n {
		return nil, fmt.Errorf("the last wave reaches %d of the %d targeted devices: end the waves with 100%%", last, n)
	}
	return ends, nil
}
