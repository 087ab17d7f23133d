package wire

// The platform capabilities of a manifest (schema 3): each capability
// keeps its fields, its validation and its part of platformFields in a
// file of its own (messaging.go, ...), so that they grow apart.

// LowestSchema returns the lowest schema number that can carry m: 3 when
// it uses a platform capability, else SchemaFor(m.Epoch).
func (m *Manifest) LowestSchema() int {
	if m.usesPlatform() {
		return ManifestSchemaPlatform
	}
	return SchemaFor(m.Epoch)
}

func (m *Manifest) usesPlatform() bool { return len(m.platformFields()) > 0 }

// platformFields names the platform capabilities m uses, in field order.
// Each capability appends its own.
func (m *Manifest) platformFields() []string {
	var used []string
	if !m.Messaging.isZero() {
		used = append(used, "messaging")
	}
	if len(m.Timers) > 0 {
		used = append(used, "timers")
	}
	used = append(used, m.kvCallFields()...)
	return used
}

// validatePlatform checks the platform capabilities; one message per
// fault.
func (m *Manifest) validatePlatform() []string {
	var errs []string
	errs = append(errs, m.validateMessaging()...)
	errs = append(errs, m.validateCapabilities()...)
	return errs
}
