package session

import (
	"encoding/json"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func FuzzParseDesired(f *testing.F) {
	good, _ := json.Marshal(wire.DesiredState{Device: "dev1", Generation: 4, Modules: []wire.DesiredModule{{Deployment: "d"}}})
	for _, s := range [][]byte{good, nil, []byte("{"), []byte(`{"device":"dev1","generation":-1}`), []byte(`{"device":"dev1"} {}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseDesired(b, "dev1", 3)
		if err != nil {
			return
		}
		if ds.Device != "dev1" || ds.Generation < 3 {
			t.Fatalf("accepted %+v", ds)
		}
		// Whatever is accepted must re-encode (the store keeps raw bytes,
		// the reconciler may log the decoded form).
		if _, err := json.Marshal(ds); err != nil {
			t.Fatal(err)
		}
	})
}
