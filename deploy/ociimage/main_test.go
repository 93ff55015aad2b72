package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image as `go run ./deploy/ociimage` does, writes it, reads the
// tarball back and checks what it holds: the binary as entrypoint, a non-root user that
// /etc/passwd knows, the CA certificates; and the binary taken out of the image runs.
func TestImage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "scaworker")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/scaworker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca := "/etc/ssl/certs/ca-certificates.crt"
	img, err := Build(bin, ca, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "scaworker.oci.tar")
	if err := run(out, "registry.example.com/scaworker:test", bin, ca, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("read the tarball back: %v", err)
	}
	want, _ := img.ConfigName()
	if got, _ := loaded.ConfigName(); got != want {
		t.Errorf("tarball image config = %s, want %s (the one built)", got, want)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != binaryPath {
		t.Errorf("entrypoint = %q, want [%s]", got, binaryPath)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "run" {
		t.Errorf("cmd = %q, want [run]", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532 (non-root)", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}
	layers, err := loaded.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one (no base image)", len(layers), err)
	}

	files := map[string]*tar.Header{}
	bodies := map[string][]byte{}
	rc := mutate.Extract(loaded)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")
		files[name] = h
		if h.Typeflag == tar.TypeReg {
			if bodies[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if h := files["usr/local/bin/scaworker"]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("the image lacks an executable %s", binaryPath)
	}
	wantCA, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bodies["etc/ssl/certs/ca-certificates.crt"], wantCA) || len(wantCA) == 0 {
		t.Errorf("the image's CA bundle differs from the build machine's %s", ca)
	}
	if !strings.Contains(string(bodies["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks the nonroot user:\n%s", bodies["etc/passwd"])
	}
	if h := files["tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("the image lacks a world-writable sticky /tmp")
	}

	// The binary taken out of the image runs.
	extracted := filepath.Join(dir, "extracted-scaworker")
	if err := os.WriteFile(extracted, bodies["usr/local/bin/scaworker"], 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(v), "scaworker ") {
		t.Errorf("the image's binary: version = %v\n%s", err, v)
	}
}
