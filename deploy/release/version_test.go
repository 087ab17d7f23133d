package release

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hash = "d18bc0a0123456789abcdef0123456789abcdef0"

var when = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

func TestVersion(t *testing.T) {
	tests := []struct {
		name    string
		g       Git
		want    string
		wantErr error // nil: any error when want is ""
	}{
		{"untagged", Git{Commit: hash, Time: when}, "0.0.0~git20250314.093000.d18bc0a01234", nil},
		{"untagged dirty", Git{Commit: hash, Time: when, Dirty: true}, "0.0.0~git20250314.093000.d18bc0a01234.dirty", nil},
		{"untagged, short hash kept whole", Git{Commit: "d18bc0a", Time: when}, "0.0.0~git20250314.093000.d18bc0a", nil},
		{"untagged, SHA-256 repository", Git{Commit: strings.Repeat("ab", 32), Time: when}, "0.0.0~git20250314.093000.abababababab", nil},
		{"upper-case hash", Git{Commit: strings.ToUpper(hash), Time: when}, "0.0.0~git20250314.093000.d18bc0a01234", nil},
		{"commit time in another zone is UTC", Git{Commit: hash, Time: when.In(time.FixedZone("X", 5*3600))}, "0.0.0~git20250314.093000.d18bc0a01234", nil},
		{"at tag", Git{Describe: "v1.2.3-0-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3", nil},
		{"at tag, dirty", Git{Describe: "v1.2.3-0-gd18bc0a01234", Commit: hash, Time: when, Dirty: true}, "1.2.3+git20250314.093000.d18bc0a01234.dirty", nil},
		{"after tag", Git{Describe: "v1.2.3-5-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3+git20250314.093000.d18bc0a01234", nil},
		{"rc tag", Git{Describe: "v1.2.3-rc1-0-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3~rc1", nil},
		{"dotted pre-release", Git{Describe: "v1.2.3-rc.1-0-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3~rc.1", nil},
		{"after rc tag", Git{Describe: "v1.2.3-rc1-12-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3~rc1+git20250314.093000.d18bc0a01234", nil},
		{"pre-release that looks like describe", Git{Describe: "v1.2.3-gamma-2-gd18bc0a01234", Commit: hash, Time: when}, "1.2.3~gamma+git20250314.093000.d18bc0a01234", nil},
		{"zeros", Git{Describe: "v0.0.0-0-gd18bc0a", Commit: hash, Time: when}, "0.0.0", nil},
		{"big numbers", Git{Describe: "v10.200.3000-0-gd18bc0a", Commit: hash, Time: when}, "10.200.3000", nil},

		// Weird tags that match TagGlob but are not releases: refused.
		{"leading zero", Git{Describe: "v01.2.3-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"four numbers", Git{Describe: "v1.2.3.4-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"hyphen in pre-release", Git{Describe: "v1.2.3-rc-1-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"build metadata", Git{Describe: "v1.2.3+meta-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"underscore", Git{Describe: "v1.2.3_x-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"tilde", Git{Describe: "v1.2.3~x-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"empty pre-release", Git{Describe: "v1.2.3--0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"number overflows dpkg", Git{Describe: "v1.2.12345678901-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"no v", Git{Describe: "1.2.3-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},
		{"upper-case V", Git{Describe: "V1.2.3-0-gd18bc0a", Commit: hash, Time: when}, "", ErrTag},

		// Inputs that are not what git says: refused, never guessed at.
		{"describe without --long", Git{Describe: "v1.2.3", Commit: hash, Time: when}, "", nil},
		{"describe with --dirty", Git{Describe: "v1.2.3-0-gd18bc0a-dirty", Commit: hash, Time: when}, "", nil},
		{"describe of an untagged checkout (--always)", Git{Describe: "d18bc0a", Commit: hash, Time: when}, "", nil},
		{"no commit", Git{Time: when}, "", nil},
		{"commit not hex", Git{Commit: "HEAD", Time: when}, "", nil},
		{"commit too short", Git{Commit: "d18bc0", Time: when}, "", nil},
		{"commit with a newline", Git{Commit: hash + "\n", Time: when}, "", nil},
		{"no time", Git{Commit: hash}, "", nil},
	}
	for _, tt := range tests {
		got, err := Version(tt.g)
		if tt.want == "" {
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s: Version(%+v) = %q, %v; want error %v", tt.name, tt.g, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: Version(%+v) = %q, %v; want %q", tt.name, tt.g, got, err, tt.want)
			continue
		}
		if err := Check(got); err != nil {
			t.Errorf("%s: Version gave %q, which Check refuses: %v", tt.name, got, err)
		}
	}
}

func TestCheck(t *testing.T) {
	good := []string{"1.2.3", "0.0.0~unknown", "1.2.3~rc1+git20250314.093000.d18bc0a01234.dirty", "2"}
	for _, v := range good {
		if err := Check(v); err != nil {
			t.Errorf("Check(%q) = %v; want nil", v, err)
		}
	}
	bad := []string{
		"",                 // empty
		"d18bc0a",          // today's untagged git describe: dpkg refuses it
		"d18bc0a-dirty",    //
		"v1.2.3",           // not a digit first
		"1.2.3-4-gd18bc0a", // git describe after a tag: hyphens are a Debian revision
		"1.2.3-rc1",        // semver pre-release
		"1:1.2.3",          // epoch
		"1.2.3_amd64",      // underscore splits file names
		"1.2.3 beta",       // space
		"1.2.3/../../x",    // path
		"1.2.3\n",          // newline
		"1.2.3'",           // quote (breaks -ldflags)
		"１.2.3",            // non-ASCII digit
		strings.Repeat("1", 129),
	}
	for _, v := range bad {
		if err := Check(v); !errors.Is(err, ErrVersion) {
			t.Errorf("Check(%q) = %v; want ErrVersion", v, err)
		}
	}
}

// TestDpkgOrder checks with dpkg itself that the versions are valid and
// that upgrades go in the order a user expects.
func TestDpkgOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed")
	}
	at := func(describe string, tm time.Time, dirty bool) string {
		v, err := Version(Git{Describe: describe, Commit: hash, Time: tm, Dirty: dirty})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	later := when.Add(90 * time.Minute)
	ascending := []string{
		at("", when, false),
		at("", when, true),
		at("", later, false),
		at("v1.0.0-rc1-0-gd18bc0a", when, false),
		at("v1.0.0-rc1-3-gd18bc0a", later, false),
		at("v1.0.0-rc2-0-gd18bc0a", later, false),
		at("v1.0.0-0-gd18bc0a", later, false),
		at("v1.0.0-0-gd18bc0a", later, true),
		at("v1.0.0-1-gd18bc0a", later.Add(time.Hour), false),
		at("v1.0.1-0-gd18bc0a", later.Add(2*time.Hour), false),
		at("v1.10.0-0-gd18bc0a", later.Add(3*time.Hour), false),
	}
	for i := 0; i+1 < len(ascending); i++ {
		a, b := ascending[i], ascending[i+1]
		out, err := exec.Command(dpkg, "--compare-versions", a, "lt", b).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("dpkg --compare-versions %s lt %s: %v %s", a, b, err, out)
		}
	}
	// dpkg itself refuses today's untagged version, and Check agrees.
	out, _ := exec.Command(dpkg, "--compare-versions", "d18bc0a", "lt", "1").CombinedOutput()
	if !strings.Contains(string(out), "bad syntax") {
		t.Errorf("dpkg accepted d18bc0a as a version: %s", out)
	}
}

// TestReadGit runs git on a scratch repository through each state.
func TestReadGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
			"GIT_AUTHOR_DATE=2025-03-14T09:30:00Z", "GIT_COMMITTER_DATE=2025-03-14T09:30:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version := func() string {
		t.Helper()
		v, warn, err := FromGit(ctx, dir)
		if err != nil || warn != nil {
			t.Fatalf("FromGit: %q, warning %v, error %v", v, warn, err)
		}
		return v
	}

	if v, warn, err := FromGit(ctx, dir); v != Unknown || warn == nil || err != nil {
		t.Errorf("not a checkout: FromGit = %q, %v, %v; want %q with a warning", v, warn, err, Unknown)
	}
	git("init", "-q")
	write("1")
	git("add", "f")
	git("commit", "-q", "-m", "one")
	git("tag", "nightly") // not a release tag: ignored
	git("tag", "v1.2")    // not shaped like one either: ignored
	if v := version(); !strings.HasPrefix(v, "0.0.0~git20250314.093000.") || strings.HasSuffix(v, ".dirty") {
		t.Errorf("untagged: %q", v)
	}
	write("2")
	if v := version(); !strings.HasSuffix(v, ".dirty") {
		t.Errorf("untagged with a modified file: %q, want .dirty", v)
	}
	git("commit", "-q", "-am", "two")
	git("tag", "v1.2.3")
	if v := version(); v != "1.2.3" {
		t.Errorf("at tag v1.2.3: %q", v)
	}
	if err := os.WriteFile(filepath.Join(dir, "untracked"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != "1.2.3" {
		t.Errorf("at tag with an untracked file: %q, want 1.2.3", v)
	}
	write("3")
	git("commit", "-q", "-am", "three")
	if v := version(); !strings.HasPrefix(v, "1.2.3+git20250314.093000.") {
		t.Errorf("after tag: %q", v)
	}
	git("tag", "v1.3.0.1") // shaped like a release tag, but not one
	if _, _, err := FromGit(ctx, dir); !errors.Is(err, ErrTag) {
		t.Errorf("malformed release tag: err %v, want ErrTag", err)
	}
}
