package edgectl

import (
	"flag"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/wire"
)

// messagingOptions are push's flags for messaging and timers (manifest
// schema 3; docs/ABI.md, sections 3.1, 3.2 and msg_publish).
type messagingOptions struct {
	publish, subscribe, subscribe0 listFlag
	rate, maxPayload               int
	timers                         mapFlag
}

func (o *messagingOptions) register(fs *flag.FlagSet) {
	fs.Var(&o.publish, "publish", "`TOPIC` (MQTT filter) under the module's namespace edge/v1/dev/DEVICE/app/MODULE/ it may publish to (repeatable)")
	fs.Var(&o.subscribe, "subscribe", "MQTT `FILTER` whose messages call the module's edge_on_message, at QoS 1 ({device} is the device's id; repeatable)")
	fs.Var(&o.subscribe0, "subscribe-qos0", "like --subscribe, at QoS 0 (`FILTER`)")
	fs.IntVar(&o.rate, "publish-rate", 0, "publishes per `second` the module may make, bursts of twice that (0: 10)")
	fs.IntVar(&o.maxPayload, "publish-max", 0, "largest message in `bytes` the module may publish (0: 16 KiB)")
	fs.Var(&o.timers, "timer", "timer `NAME=DURATION` calling the module's edge_on_timer, e.g. sample=1s (repeatable)")
}

// apply puts the options into m; Manifest.Validate checks them at signing.
func (o *messagingOptions) apply(m *wire.Manifest) error {
	m.Messaging.Publish = o.publish
	for _, f := range o.subscribe {
		m.Messaging.Subscribe = append(m.Messaging.Subscribe, wire.Subscription{Filter: f, QoS: 1})
	}
	for _, f := range o.subscribe0 {
		m.Messaging.Subscribe = append(m.Messaging.Subscribe, wire.Subscription{Filter: f})
	}
	m.Messaging.Rate, m.Messaging.MaxPayload = o.rate, o.maxPayload
	names := make([]string, 0, len(o.timers.m))
	for n := range o.timers.m {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		d, err := time.ParseDuration(o.timers.m[n])
		if err != nil {
			return usagef("push", "push: --timer %s=%s: %v", n, o.timers.m[n], err)
		}
		m.Timers = append(m.Timers, wire.Timer{Name: n, EveryMS: d.Milliseconds()})
	}
	if err := (&wire.Manifest{Messaging: m.Messaging, Timers: m.Timers}).ValidateMessaging(); err != nil {
		return usagef("push", "push: %s", strings.TrimPrefix(err.Error(), wire.ErrManifest.Error()+": "))
	}
	return nil
}
