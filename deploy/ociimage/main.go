// Command ociimage builds scaworker's container image without docker and without pulling a
// base image: a single layer holding the static binary, the build machine's CA
// certificates and an /etc/passwd with the unprivileged user nonroot (65532), written as a
// tarball that `docker load`, `podman load` and `crane push` accept. It is what
// deploy/Dockerfile builds, for machines that have no container engine or cannot reach a
// registry.
//
//	go run ./deploy/ociimage -o scaworker.oci.tar -tag registry.example.com/scaworker:1.0
//
// Without -binary it builds ./cmd/scaworker itself (CGO_ENABLED=0, for -arch on linux).
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image.
const (
	binaryPath = "/usr/local/bin/scaworker"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	uid        = 65532
	user       = "65532:65532"
)

func main() {
	out := flag.String("o", "scaworker.oci.tar", "output tarball (docker load / crane push)")
	tag := flag.String("tag", "scaworker:dev", "image reference written into the tarball")
	bin := flag.String("binary", "", "a static linux scaworker binary (default: build ./cmd/scaworker)")
	ca := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle to copy into the image")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH of the image")
	flag.Parse()
	if err := run(*out, *tag, *bin, *ca, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(out, tag, bin, ca, arch string) error {
	if bin == "" {
		dir, err := os.MkdirTemp("", "ociimage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "scaworker")
		if err := buildBinary(bin, arch); err != nil {
			return err
		}
	}
	img, err := Build(bin, ca, arch)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(tag)
	if err != nil {
		return fmt.Errorf("-tag: %w", err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s %s\n", out, tag, d)
	return nil
}

// buildBinary builds a static scaworker for linux/arch at out (run from the module).
func buildBinary(out, arch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/scaworker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/scaworker (run from the repository root): %w", err)
	}
	return nil
}

// Build assembles the image: one layer over an empty base, run as nonroot, the binary as
// entrypoint and "run" as its default argument.
func Build(bin, ca, arch string) (v1.Image, error) {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("-binary: %w", err)
	}
	if !bytes.HasPrefix(binary, []byte("\x7fELF")) {
		return nil, errors.New("-binary: not a linux (ELF) executable")
	}
	certs, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	layerTar, err := rootFS(binary, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible
	cf.Config.User = user
	cf.Config.Entrypoint = []string{binaryPath}
	cf.Config.Cmd = []string{"run"}
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + caPath}
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "scaworker",
		"org.opencontainers.image.description": "SCA trigger events on NATS JetStream to Mangopay SCA enrollment links",
	}
	return mutate.ConfigFile(img, cf)
}

// rootFS is the layer: directories, the binary, the CA bundle, passwd and group.
func rootFS(binary, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0).UTC()
	dir := func(path string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime})
	}
	file := func(path string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(body)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file("usr/local/bin/scaworker", 0o755, binary) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
