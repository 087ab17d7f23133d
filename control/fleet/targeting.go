package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/wire"
)

// view is the fleet as targeting sees it: every known device (registered,
// or reported once) with its status, and every stored desired state.
type view struct {
	devices map[string]wire.Device
	desired map[string]wire.DesiredState
}

func (f *Fleet) view(ctx context.Context) (*view, error) {
	// What was received before this call is part of it: an agent that
	// just connected with its labels can be targeted at once (its status
	// would otherwise wait up to reportsEvery in the queue).
	// Not cancelled with the request: a batch taken is stored whole.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	f.storeReports(sctx)
	cancel()
	devs, err := f.store.DeviceStatuses(ctx)
	if err != nil {
		return nil, err
	}
	all, bad, err := f.store.AllDesired(ctx)
	if err != nil {
		return nil, err
	}
	if bad != nil {
		f.log.Warn("desired states that cannot be read are left out of targeting", "err", bad)
	}
	v := &view{devices: map[string]wire.Device{}, desired: map[string]wire.DesiredState{}}
	for _, d := range devs {
		v.devices[d.ID] = d
	}
	for _, ds := range all {
		v.desired[ds.Device] = ds
	}
	return v, nil
}

// labels are the effective labels of device id: the central ones under
// the agent's own (wire.MergeLabels).
func (v *view) labels(id string) map[string]string {
	var own map[string]string
	if d, ok := v.devices[id]; ok && d.Status != nil {
		own = d.Status.Labels
	}
	return wire.MergeLabels(v.desired[id].Labels, own)
}

// resolve lists, sorted, the devices t selects: every node it names, and
// every known device whose effective labels match. A node that is not
// known is refused unless allowUnregistered (a typo would otherwise wait
// for a device that never comes, until the deployment times out), and so
// are targets that select nothing.
func (v *view) resolve(t wire.Targets, allowUnregistered bool) ([]string, error) {
	var ids, unknown []string
	for _, n := range t.Nodes {
		if err := wire.ValidateDeviceID(n); err != nil {
			return nil, fmt.Errorf("%w: target: %w", ErrBadRequest, err)
		}
		if _, ok := v.devices[n]; !ok && !allowUnregistered {
			unknown = append(unknown, n)
		}
		ids = append(ids, n)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: %s never registered nor reported (edgectl device add ID registers one; "+
			"allow_unregistered, edgectl push --allow-unregistered, targets a device before it exists)",
			ErrUnknownDevice, strings.Join(unknown, ", "))
	}
	if len(t.Labels) > 0 {
		for id := range v.devices {
			if t.Matches(id, v.labels(id)) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 && len(t.Labels) > 0 {
		return nil, fmt.Errorf("%w: no known device carries the labels %s", ErrNoTargets, labelsText(t.Labels))
	}
	if len(ids) == 0 {
		return nil, ErrNoTargets
	}
	return ids, nil
}

// entry is device id's desired entry for module, or nil.
func (v *view) entry(id, module string) *wire.DesiredModule {
	ds := v.desired[id]
	for i := range ds.Modules {
		if m, err := wire.ParseManifest(ds.Modules[i].Envelope.Payload); err == nil && m.Name == module {
			return &ds.Modules[i]
		}
	}
	return nil
}

// serving is the version of module device id last reported serving.
func (v *view) serving(id, module string) string {
	d := v.devices[id]
	if d.Status == nil {
		return ""
	}
	for _, ms := range d.Status.Modules {
		if ms.Name == module {
			return ms.Version
		}
	}
	return ""
}

// labelsText writes labels as sorted K=V pairs ("ring=canary, site=a") for
// an operator's message, never Go's map[...] syntax.
func labelsText(labels map[string]string) string {
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ", ")
}
