package deploy

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// tarballFiles is what each program's tarball holds besides its folder.
var tarballFiles = map[string][]string{
	"edge-agent":   {"ARCH", "README.md", "config/agent.json", "edge-agent", "install.sh", "systemd/edge-agent.service"},
	"edge-control": {"ARCH", "README.md", "config/edge-control.env", "edge-control", "install.sh", "systemd/edge-control.service"},
	"edgectl":      {"ARCH", "README.md", "edgectl", "install.sh"},
}

// extract unpacks a release tarball with tar, as a user does, after
// checking its entries with archive/tar: everything in one folder named
// after the tarball, owned by root, the expected files and nothing else.
// It returns that folder.
func extract(t *testing.T, d *dist, program, arch string) string {
	t.Helper()
	name := d.tarballs[program+"/"+arch]
	top := strings.TrimSuffix(name, ".tar.gz") + "/"
	f, err := os.Open(d.path(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tr := tar.NewReader(gz)
	var files []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(h.Name, top) && h.Name+"/" != top {
			t.Errorf("%s: entry %q outside %s", name, h.Name, top)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "root" {
			t.Errorf("%s: %s owned by %d/%s, want root", name, h.Name, h.Uid, h.Uname)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, strings.TrimPrefix(h.Name, top))
		}
	}
	sort.Strings(files)
	if want := tarballFiles[program]; !reflect.DeepEqual(files, want) {
		t.Errorf("%s holds %v, want %v", name, files, want)
	}
	dir := t.TempDir()
	if out, err := exec.Command(tool(t, "tar"), "-xzf", d.path(name), "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xzf %s: %v\n%s", name, err, out)
	}
	rel := filepath.Join(dir, top)
	if b, err := os.ReadFile(filepath.Join(rel, "ARCH")); err != nil || string(b) != arch+"\n" {
		t.Errorf("%s: ARCH %q, %v; want %s", name, b, err, arch)
	}
	return rel
}

// TestDistTarballs opens every tarball of the release and checks its
// binary; a tarball for another architecture is refused by its install.sh.
func TestDistTarballs(t *testing.T) {
	d := built(t)
	for _, a := range d.archs {
		for _, p := range programs {
			rel := extract(t, d, p, a)
			checkBinary(t, d, filepath.Join(rel, p), p, a)
			if a == hostArch() {
				continue // installed by TestTarballInstall
			}
			root := t.TempDir()
			out, err := runInstall(t, rel, "--root", root)
			if want := "this release is for " + a + ", this machine is " + hostArch(); err == nil || !strings.Contains(out, want) {
				t.Errorf("%s %s install.sh on %s: %v %q; want a refusal saying %q", p, a, hostArch(), err, out, want)
			}
			if entries, _ := os.ReadDir(root); len(entries) > 0 {
				t.Errorf("%s %s: the refused install.sh wrote into the root", p, a)
			}
		}
	}
}

// installed is what one program's installation must leave in a root.
type installed struct {
	binary  string // relative to the root
	unit    string // "" for none
	conf    string // configuration file, "" for none
	example string // its example in the repository
	mode    os.FileMode
}

// tarballInstalls is what install.sh puts where.
var tarballInstalls = map[string]installed{
	"edge-agent":   {"usr/local/bin/edge-agent", "etc/systemd/system/edge-agent.service", "etc/edge-agent/agent.json", "deploy/config/agent.json", 0o640},
	"edge-control": {"usr/local/bin/edge-control", "etc/systemd/system/edge-control.service", "etc/edge-control/edge-control.env", "deploy/config/edge-control.env", 0o600},
	"edgectl":      {binary: "usr/local/bin/edgectl"},
}

// checkInstalled checks what a tarball or a package installed into root:
// files and modes, the binary runs and reports the release version, the
// unit passes systemd-analyze verify, the configuration is the example.
func checkInstalled(t *testing.T, d *dist, root, program string, in installed) {
	t.Helper()
	checkMode(t, root, in.binary, 0o755)
	checkBinary(t, d, filepath.Join(root, in.binary), program, hostArch())
	if in.conf != "" {
		checkMode(t, root, in.conf, in.mode)
		checkMode(t, root, filepath.Dir(in.conf), 0o750)
		got, err1 := os.ReadFile(filepath.Join(root, in.conf))
		want, err2 := os.ReadFile(filepath.Join(repoRoot(), in.example))
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("%s: %v %v; want a copy of %s", in.conf, err1, err2, in.example)
		}
	}
	if in.unit != "" {
		checkMode(t, root, in.unit, 0o644)
		verifyUnit(t, filepath.Join(root, in.unit), root)
	}
}

func checkMode(t *testing.T, root, rel string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(filepath.Join(root, rel))
	if err != nil {
		t.Errorf("%s not installed: %v", rel, err)
		return
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s mode %v, want %v", rel, st.Mode().Perm(), want)
	}
}

func checkGone(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		if _, err := os.Lstat(filepath.Join(root, rel)); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", rel, err)
		}
	}
}

// verifyUnit runs systemd-analyze verify on the unit installed at path,
// its ExecStart pointed into root (verify checks that the binary exists).
func verifyUnit(t *testing.T, path, root string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed; %s not verified", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	text := strings.NewReplacer("ExecStart=/usr/local/bin/", "ExecStart="+root+"/usr/local/bin/", "ExecStart=/usr/bin/", "ExecStart="+root+"/usr/bin/").Replace(string(b))
	unit := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Base(path)) {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, strings.Join(ours, "\n"))
	}
}

// TestTarballInstall installs each program's tarball for this machine with
// its install.sh into a scratch root, upgrades it, removes it and purges it.
func TestTarballInstall(t *testing.T) {
	d := built(t)
	for _, p := range programs {
		t.Run(p, func(t *testing.T) {
			rel := extract(t, d, p, hostArch())
			root := t.TempDir()
			in := tarballInstalls[p]
			var args []string
			if p == "edge-agent" {
				args = []string{"--board", "rpi4"}
			}
			out, err := runInstall(t, rel, append([]string{"--root", root}, args...)...)
			if err != nil || !strings.Contains(out, "installed "+p+" "+d.version+" ") {
				t.Fatalf("install: %v\n%s", err, out)
			}
			checkInstalled(t, d, root, p, in)
			if p == "edge-agent" {
				if dropIn := readFile(t, root, agentDropIn); !strings.Contains(dropIn, "MemoryMax=576M\n") || !strings.Contains(dropIn, "EDGE_BOARD=rpi4\n") {
					t.Errorf("board drop-in = %q; want MemoryMax=576M (2×256+64) and EDGE_BOARD=rpi4", dropIn)
				}
			}
			if in.unit == "" {
				if entries, _ := os.ReadDir(filepath.Join(root, "etc")); len(entries) > 0 {
					t.Errorf("%s installed files in /etc", p)
				}
			}

			// Upgrade (DESTDIR this time) keeps the operator's configuration
			// and drop-ins.
			if in.conf != "" {
				writeFile(t, root, in.conf, "edited\n")
				writeFile(t, root, "etc/systemd/system/"+p+".service.d/override.conf", "[Service]\n")
				writeFile(t, root, "var/lib/"+p+"/state", "x")
			}
			cmd := exec.Command("sh", filepath.Join(rel, "install.sh"), "--no-start")
			cmd.Env = append(os.Environ(), "DESTDIR="+root)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("upgrade: %v\n%s", err, out)
			}
			if in.conf != "" && readFile(t, root, in.conf) != "edited\n" {
				t.Errorf("upgrade overwrote %s", in.conf)
			}

			if out, err := runInstall(t, rel, "uninstall", "--root", root); err != nil {
				t.Fatalf("uninstall: %v\n%s", err, out)
			}
			checkGone(t, root, in.binary)
			if in.conf != "" {
				checkGone(t, root, in.unit, agentDropIn)
				for _, kept := range []string{in.conf, "etc/systemd/system/" + p + ".service.d/override.conf", "var/lib/" + p + "/state"} {
					if _, err := os.Stat(filepath.Join(root, kept)); err != nil {
						t.Errorf("uninstall removed %s: %v", kept, err)
					}
				}
				if out, err := runInstall(t, rel, "uninstall", "--purge", "--root", root); err != nil {
					t.Fatalf("purge: %v\n%s", err, out)
				}
				checkGone(t, root, filepath.Dir(in.conf), "etc/systemd/system/"+p+".service.d", "var/lib/"+p)
			}
		})
	}
}

const agentDropIn = "etc/systemd/system/edge-agent.service.d/board.conf"

func readFile(t *testing.T, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

func writeFile(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestInstallRefuses: bad input to install.sh changes nothing. Each case
// is the real edge-agent tarball for this machine, altered.
func TestInstallRefuses(t *testing.T) {
	d := built(t)
	tests := []struct {
		name  string
		alter func(rel string)
		args  []string
		want  string
	}{
		{"wrong architecture", func(rel string) { os.WriteFile(filepath.Join(rel, "ARCH"), []byte("riscv64-not-this\n"), 0o644) }, nil, "this release is for riscv64-not-this"},
		{"unknown board", nil, []string{"--board", "rpi9"}, "unknown board rpi9"},
		{"unknown flag", nil, []string{"--frobnicate"}, "unknown argument --frobnicate"},
		{"no binary", func(rel string) { os.Remove(filepath.Join(rel, "edge-agent")) }, nil, "no edge-agent, edge-control or edgectl binary"},
		{"two binaries", func(rel string) { os.WriteFile(filepath.Join(rel, "edgectl"), nil, 0o755) }, nil, "both edge-agent and edgectl"},
		{"binary for another machine", func(rel string) { os.WriteFile(filepath.Join(rel, "edge-agent"), []byte("\x7fELF junk"), 0o755) }, nil, "does not run on this machine"},
	}
	for _, tt := range tests {
		rel := extract(t, d, "edge-agent", hostArch())
		if tt.alter != nil {
			tt.alter(rel)
		}
		root := t.TempDir()
		out, err := runInstall(t, rel, append([]string{"--root", root}, tt.args...)...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: err %v, output %q; want failure mentioning %q", tt.name, err, out, tt.want)
		}
		if entries, _ := os.ReadDir(root); len(entries) > 0 {
			t.Errorf("%s: install.sh wrote into the root anyway", tt.name)
		}
	}
	rel := extract(t, d, "edge-control", hostArch())
	if out, err := runInstall(t, rel, "--root", t.TempDir(), "--board", "rpi4"); err == nil || !strings.Contains(out, "--board applies to edge-agent only") {
		t.Errorf("edge-control --board: err %v, output %q; want a refusal", err, out)
	}
}
