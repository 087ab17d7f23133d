package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCancelLegacyDeployment: a deployment an older controller stored has
// no record of the entry it replaced (NULL after the migration): a cancel
// leaves that device as it is and says why, rather than removing a module
// that may be serving.
func TestCancelLegacyDeployment(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	sha := strings.Repeat("a", 64)
	db, err := sql.Open("sqlite", filepath.Join(dir, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{ // as an older controller left them
		`INSERT INTO blobs(sha256, size, stored, chunks, created) VALUES('` + sha + `', 10, 10, '[]', 0)`,
		`INSERT INTO deployments(id, module, version, sha256, envelope, created) VALUES('d-old', 'orders', '1.0.0', '` + sha + `', '{}', 0)`,
		`INSERT INTO deployment_devices(deployment, device, state, updated, previous) VALUES('d-old', 'pi-1', 'pending', 0, NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	states, devs, err := s.CancelDeployment(context.Background(), "d-old", time.Now())
	if err != nil || len(states) != 0 || len(devs) != 1 || devs[0].Cancelled || !strings.Contains(devs[0].Note, "older controller") {
		t.Errorf("cancel of a legacy deployment: %v %+v %v; want pi-1 left as it is, with why", states, devs, err)
	}
	if prev, err := s.Previous(context.Background(), "d-old", "pi-1"); prev != nil || err != nil {
		t.Errorf("Previous of a legacy row = %v, %v; want unknown (nil)", prev, err)
	}
}
