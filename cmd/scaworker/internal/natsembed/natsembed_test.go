package natsembed

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func start(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Start(Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func TestStartServesJetStream(t *testing.T) {
	t.Parallel()
	s := start(t, t.TempDir())
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") || strings.HasSuffix(s.Addr(), ":4222") {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a picked port", s.Addr())
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("AccountInfo() error = %v, want JetStream enabled", err)
	}
}

func TestSecondServerOnSameDirFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start(t, dir)
	s2, err := Start(Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err == nil {
		s2.Shutdown()
		t.Fatal("second Start() on the same dir succeeded, want an error")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "SCA_DATA_DIR") {
		t.Fatalf("second Start() error = %v, want ErrLocked naming SCA_DATA_DIR", err)
	}
}

func TestLockReleasedOnShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Start(Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	s.Shutdown()
	start(t, dir) // must succeed: the lock was released
}

func TestValidateListen(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"127.0.0.1:0", ":0", "0.0.0.0:4222", "[::1]:4222"} {
		if err := ValidateListen(in); err != nil {
			t.Errorf("ValidateListen(%q) = %v, want nil", in, err)
		}
	}
	for _, in := range []string{"", "4222", "host:x", "host:70000"} {
		if err := ValidateListen(in); err == nil || !strings.Contains(err.Error(), "SCA_NATS_LISTEN") {
			t.Errorf("ValidateListen(%q) = %v, want error naming SCA_NATS_LISTEN", in, err)
		}
	}
}
