package deploy

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/edgeplane/edge/deploy/release"
)

// The release tests install and run what make dist produces. By default
// they run make dist for two architectures, the host's and one other
// (amd64 and armv7 on an amd64 machine): every kind of artifact, a .deb
// for a foreign Debian architecture and a 32-bit build, in seconds once
// the build cache is warm. .ci/run runs make dist for all four and points
// EDGE_DIST at its output, so every artifact of a release is checked.

var programs = []string{"edge-agent", "edge-control", "edgectl"}

// archs maps the release's architecture names to Debian's, to ELF
// machines and to the qemu-user binary that runs them on another host.
var archs = map[string]struct {
	deb    string
	goarch string
	mach   elf.Machine
	class  elf.Class
	qemu   string
}{
	"amd64":   {"amd64", "amd64", elf.EM_X86_64, elf.ELFCLASS64, "qemu-x86_64-static"},
	"arm64":   {"arm64", "arm64", elf.EM_AARCH64, elf.ELFCLASS64, "qemu-aarch64-static"},
	"armv7":   {"armhf", "arm", elf.EM_ARM, elf.ELFCLASS32, "qemu-arm-static"},
	"riscv64": {"riscv64", "riscv64", elf.EM_RISCV, elf.ELFCLASS64, "qemu-riscv64-static"},
}

// dist is one make dist output, read from its SHA256SUMS.
type dist struct {
	dir       string
	version   string
	archs     []string          // release architecture names, sorted
	tarballs  map[string]string // "edge-agent/amd64" → file name
	debs      map[string]string // "edge-agent/amd64" → file name
	artifacts []string          // every name in SHA256SUMS
}

var (
	distOnce sync.Once
	distOut  *dist
	distErr  error
	distTmp  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if distTmp != "" {
		os.RemoveAll(distTmp)
	}
	os.Exit(code)
}

func crossArch() string {
	if hostArch() == "armv7" {
		return "amd64"
	}
	return "armv7"
}

// built returns make dist's output: $EDGE_DIST, or built once with
// make dist for the host's architecture and crossArch().
func built(t *testing.T) *dist {
	t.Helper()
	distOnce.Do(func() {
		dir := os.Getenv("EDGE_DIST")
		if dir == "" {
			if distTmp, distErr = os.MkdirTemp("", "edge-dist-test"); distErr != nil {
				return
			}
			dir = filepath.Join(distTmp, "dist")
			cmd := exec.Command("make", "-s", "dist", "DIST="+dir, "DIST_ARCH="+hostArch()+" "+crossArch())
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				distErr = fmt.Errorf("make dist: %v\n%s", err, out)
				return
			}
		}
		distOut, distErr = readDist(dir)
	})
	if distErr != nil {
		t.Fatal(distErr)
	}
	return distOut
}

var (
	tarballRE = regexp.MustCompile(`^(edge-agent|edge-control|edgectl)_([^_]+)_linux_([a-z0-9]+)\.tar\.gz$`)
	debRE     = regexp.MustCompile(`^(edge-agent|edge-control|edgectl)_([^_]+)_([a-z0-9]+)\.deb$`)
)

// readDist reads dir/SHA256SUMS and checks that it names every file in
// dir, each artifact of each program for each architecture, all of one
// version.
func readDist(dir string) (*dist, error) {
	d := &dist{dir: dir, tarballs: map[string]string{}, debs: map[string]string{}}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	versions := map[string]bool{}
	seenArch := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(hash) != 64 {
			return nil, fmt.Errorf("SHA256SUMS line %q: want HASH  NAME", sc.Text())
		}
		d.artifacts = append(d.artifacts, name)
		if m := tarballRE.FindStringSubmatch(name); m != nil {
			versions[m[2]], seenArch[m[3]] = true, true
			d.tarballs[m[1]+"/"+m[3]] = name
			continue
		}
		if m := debRE.FindStringSubmatch(name); m != nil {
			versions[m[2]] = true
			arch := ""
			for a, info := range archs {
				if info.deb == m[3] {
					arch = a
				}
			}
			if arch == "" {
				return nil, fmt.Errorf("%s: unknown Debian architecture %s", name, m[3])
			}
			d.debs[m[1]+"/"+arch] = name
			continue
		}
		return nil, fmt.Errorf("SHA256SUMS names %q, not a release artifact", name)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(versions) != 1 {
		return nil, fmt.Errorf("artifacts of %d versions %v, want one", len(versions), versions)
	}
	for v := range versions {
		d.version = v
	}
	for a := range seenArch {
		d.archs = append(d.archs, a)
	}
	sort.Strings(d.archs)
	for _, a := range d.archs {
		for _, p := range programs {
			if d.tarballs[p+"/"+a] == "" || d.debs[p+"/"+a] == "" {
				return nil, fmt.Errorf("%s for %s: tarball %q, deb %q; want both", p, a, d.tarballs[p+"/"+a], d.debs[p+"/"+a])
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{"SHA256SUMS": true}
	for _, n := range d.artifacts {
		listed[n] = true
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			return nil, fmt.Errorf("%s is in %s but not in SHA256SUMS", e.Name(), dir)
		}
	}
	if len(d.artifacts) != 2*len(programs)*len(d.archs) {
		return nil, fmt.Errorf("%d artifacts, want %d", len(d.artifacts), 2*len(programs)*len(d.archs))
	}
	return d, nil
}

func (d *dist) path(name string) string { return filepath.Join(d.dir, name) }

// TestDistVersion: one version for the whole release, valid for dpkg
// (today's main wrote "d18bc0a", which dpkg refuses), and the checkout's.
func TestDistVersion(t *testing.T) {
	d := built(t)
	if err := release.Check(d.version); err != nil {
		t.Errorf("release version: %v", err)
	}
	dpkg := tool(t, "dpkg")
	if out, err := exec.Command(dpkg, "--compare-versions", d.version, "eq", d.version).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("dpkg --compare-versions %q: %v %s", d.version, err, out)
	}
	if os.Getenv("EDGE_DIST") == "" && os.Getenv("VERSION") == "" {
		cmd := exec.Command("go", "run", "./deploy/version")
		cmd.Dir = repoRoot()
		out, err := cmd.Output()
		if want := strings.TrimSpace(string(out)); err != nil || d.version != want {
			t.Errorf("release version %q, checkout's %q (%v)", d.version, want, err)
		}
	}
	if len(d.archs) < 2 {
		t.Errorf("released for %v; want the host's architecture and at least one other", d.archs)
	}
}

// TestDistChecksums runs sha256sum -c on SHA256SUMS, as a user would.
func TestDistChecksums(t *testing.T) {
	d := built(t)
	cmd := exec.Command(tool(t, "sha256sum"), "--strict", "-c", "SHA256SUMS")
	cmd.Dir = d.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), ": OK\n"); got != len(d.artifacts) {
		t.Errorf("sha256sum checked %d files, want %d\n%s", got, len(d.artifacts), out)
	}
}

// checkBinary checks that path is a static ELF executable for arch and,
// where it can run here (natively or under qemu-user), that it reports
// the release version.
func checkBinary(t *testing.T, d *dist, path, program, arch string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	want := archs[arch]
	if f.Machine != want.mach || f.Class != want.class || f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF %v %v %v, want %v %v executable", path, f.Class, f.Machine, f.Type, want.class, want.mach)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked; releases are static", path)
		}
	}
	var cmd *exec.Cmd
	switch qemu, err := exec.LookPath(want.qemu); {
	case arch == hostArch():
		cmd = exec.Command(path, "--version")
	case err == nil:
		cmd = exec.Command(qemu, path, "--version")
	case os.Getenv("CI") != "" && os.Getenv("EDGE_DIST") != "":
		t.Errorf("%s: %s not installed; CI's full release check runs every binary", path, want.qemu)
		return
	default:
		t.Logf("%s: %s not installed; checked the ELF header only", path, want.qemu)
		return
	}
	out, err := cmd.CombinedOutput()
	wantOut := fmt.Sprintf("%s %s linux/%s ", program, d.version, want.goarch)
	if err != nil || !strings.HasPrefix(string(out), wantOut) {
		t.Errorf("%s --version: %v, %q; want %q...", path, err, out, wantOut)
	}
}
