package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownModules is wrapped when an operation would send a device a
// desired state without modules the device reports serving. A device
// removed and registered again under the same id keeps running what it
// ran, while its new registration starts with an empty desired state: the
// first desired state it receives (a push, a label, a quarantine clear)
// would stop those modules. The operator decides, with stop_unknown
// (edgectl push --stop-unknown): the controller no longer holds their
// signed manifests, so they are stopped, and pushed again if wanted.
var ErrUnknownModules = errors.New("the device runs modules its desired state does not hold")

// unknown lists, as "name version", the modules device id last reported
// serving that its desired state does not hold, apart from module (which
// the operation itself sets).
func (v *view) unknown(id, module string) []string {
	d := v.devices[id]
	if d.Status == nil {
		return nil
	}
	var out []string
	for _, ms := range d.Status.Modules {
		if ms.Version == "" || ms.Name == module || v.entry(id, ms.Name) != nil {
			continue
		}
		out = append(out, ms.Name+" "+ms.Version)
	}
	return out
}

// checkUnknown refuses, with ErrUnknownModules naming each device and
// module, an operation on ids that would stop modules they run outside
// their desired state (see ErrUnknownModules). what names the operation.
func (v *view) checkUnknown(ids []string, module, what string) error {
	var parts []string
	for _, id := range ids {
		if u := v.unknown(id, module); len(u) > 0 {
			parts = append(parts, id+" runs "+strings.Join(u, ", "))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s, which the controller has no desired state for (the device was removed and registered again, "+
		"or the controller's state was lost) and the desired state %s sends would stop: push with --stop-unknown (stop_unknown) "+
		"to stop them, then push again those the device should run", ErrUnknownModules, what, strings.Join(parts, "; "), what)
}

// checkUnknown is view.checkUnknown for one device, for the operations
// that send it a desired state without a push (labels, quarantine clear).
func (f *Fleet) checkUnknown(ctx context.Context, id, what string) error {
	v, err := f.view(ctx)
	if err != nil {
		return err
	}
	return v.checkUnknown([]string{id}, "", what)
}
