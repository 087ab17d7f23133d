package boards

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestProfilesValid(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
		if seen[p.Name] {
			t.Errorf("profile %s listed twice", p.Name)
		}
		seen[p.Name] = true
	}
	for _, arch := range []string{"amd64", "arm64", "arm", "riscv64"} {
		if _, err := Generic(arch); err != nil {
			t.Errorf("no generic profile for %s: %v", arch, err)
		}
	}
}

// fakeRoot writes a device-tree model the way the kernel does (NUL-terminated).
func fakeRoot(t *testing.T, model string) string {
	root := t.TempDir()
	if model == "" {
		return root
	}
	dir := filepath.Join(root, "proc", "device-tree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model"), []byte(model+"\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestDetect(t *testing.T) {
	tests := []struct {
		model, arch, want string
	}{
		{"Raspberry Pi 5 Model B Rev 1.0", "arm64", "rpi5"},
		{"Raspberry Pi 4 Model B Rev 1.4", "arm64", "rpi4"},
		{"Raspberry Pi Compute Module 4 Rev 1.0", "arm64", "rpi4"},
		{"Raspberry Pi Zero 2 W Rev 1.0", "arm64", "rpi-zero-2w"},
		{"Raspberry Pi 3 Model B Plus Rev 1.3", "arm", "rpi3-32"},
		// A Pi 3 running a 64-bit OS is not the 32-bit profile.
		{"Raspberry Pi 3 Model B Plus Rev 1.3", "arm64", "generic-arm64"},
		{"StarFive VisionFive 2 v1.3B", "riscv64", "visionfive2"},
		{"BeagleV Ahead", "riscv64", "beaglev-ahead"},
		{"", "amd64", "generic-amd64"},
		{"Some Unknown Board", "riscv64", "generic-riscv64"},
		{"", "arm", "generic-armv7"},
	}
	for _, tt := range tests {
		p, model, err := Detect(fakeRoot(t, tt.model), tt.arch)
		if err != nil {
			t.Errorf("Detect(%q, %s): %v", tt.model, tt.arch, err)
			continue
		}
		if p.Name != tt.want || model != tt.model {
			t.Errorf("Detect(%q, %s) = %s (model %q), want %s", tt.model, tt.arch, p.Name, model, tt.want)
		}
	}
	if _, _, err := Detect(t.TempDir(), "mips"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Detect on mips: err = %v, want ErrUnknown", err)
	}
}

func TestLookup(t *testing.T) {
	if p, err := Lookup("visionfive2"); err != nil || p.Engine != "interpreter" {
		t.Errorf("Lookup(visionfive2) = %+v, %v", p, err)
	}
	if _, err := Lookup("rpi6"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Lookup(rpi6) err = %v, want ErrUnknown", err)
	}
}

// TestValidateRejects: overrides that cannot work are refused.
func TestValidateRejects(t *testing.T) {
	base, _ := Lookup("visionfive2")
	tests := []struct {
		name string
		edit func(*Profile)
	}{
		{"compiler on riscv64", func(p *Profile) { p.Engine = "compiler" }},
		{"unknown engine", func(p *Profile) { p.Engine = "jit" }},
		{"pool 0", func(p *Profile) { p.Pool = 0 }},
		{"too few pages", func(p *Profile) { p.MemoryPages = 1 }},
		{"pages over the worker cap", func(p *Profile) { p.MemoryPages = 65536 }},
		{"tiny worker cap", func(p *Profile) { p.WorkerMemoryMiB = 8 }},
		{"relative data folder", func(p *Profile) { p.DataDir = "state" }},
	}
	for _, tt := range tests {
		p := base
		tt.edit(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", tt.name, p)
		}
	}
}
