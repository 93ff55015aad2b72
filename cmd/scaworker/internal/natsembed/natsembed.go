// Package natsembed runs the NATS server with JetStream inside the
// scaworker process, for a deployment without a NATS of its own (NATS_URL
// empty) and for the demo.
//
// The storage directory is locked with an advisory file lock for as long
// as the server runs: a second process (or a second server in the same
// process) on the same directory fails at once instead of corrupting it.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// LockFile is the name of the lock file inside the data directory.
const LockFile = "scaworker.lock"

// Options configure [Start].
type Options struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// DataDir holds the JetStream store; created when missing, locked while in use.
	DataDir string
	// Log receives the server's log lines; nil discards them.
	Log *zap.Logger
	// ReadyTimeout bounds the wait for the server to accept connections (default 10s).
	ReadyTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	srv  *server.Server
	lock *flock.Flock
	addr string
}

// ErrLocked reports a data directory in use by another server.
var ErrLocked = errors.New("data directory is in use by another scaworker")

// ErrListen reports that the server cannot listen on SCA_NATS_LISTEN
// (typically: the port is taken by another program). The error names the
// setting and the system's reason, e.g. "address already in use".
var ErrListen = errors.New("the embedded NATS server cannot listen")

// Start starts the server and waits until it accepts connections. An
// address it cannot listen on (e.g. a port in use) is [ErrListen], at once.
func Start(opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	host, port, err := splitListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	if opts.DataDir == "" {
		return nil, errors.New("SCA_DATA_DIR: empty")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("SCA_DATA_DIR: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("SCA_DATA_DIR: create %s: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, LockFile))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("SCA_DATA_DIR: lock %s: %w", lock.Path(), err)
	}
	if !locked {
		return nil, fmt.Errorf("SCA_DATA_DIR %s: %w (lock %s held); stop it or use another directory", dir, ErrLocked, lock.Path())
	}
	if port != server.RANDOM_PORT {
		// Bind once ourselves: a taken port is then reported at once, with
		// the system's reason, instead of after ReadyTimeout.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			_ = lock.Unlock()
			return nil, listenError(opts.Listen, err.Error())
		}
		_ = ln.Close()
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "scaworker",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		MaxPayload: 1 << 20,
	})
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(zapLogger{log: log.Named("nats-server").WithOptions(zap.AddCallerSkip(1)), fatal: fatal}, false, false, false)
	srv.Start()
	deadline := time.Now().Add(opts.ReadyTimeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		var err error
		select {
		case msg := <-fatal: // the server gave up, e.g. it could not listen
			if strings.Contains(msg, "listen") {
				err = listenError(opts.Listen, msg)
			} else {
				err = fmt.Errorf("embedded nats: %s", msg)
			}
		default:
			if time.Now().After(deadline) {
				err = fmt.Errorf("embedded nats: not ready after %s (SCA_NATS_LISTEN %s)", opts.ReadyTimeout, opts.Listen)
			}
		}
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			_ = lock.Unlock()
			return nil, err
		}
	}
	addr := ""
	if a := srv.Addr(); a != nil {
		addr = a.String()
	}
	return &Server{srv: srv, lock: lock, addr: addr}, nil
}

// listenError is [ErrListen] for listen, with the system's reason.
func listenError(listen, reason string) error {
	return fmt.Errorf("SCA_NATS_LISTEN %s: %w: %s; stop what uses that address, choose another SCA_NATS_LISTEN (port 0 picks a free one), or set NATS_URL to use a NATS server of your own", listen, ErrListen, reason)
}

// splitListen turns host:port into nats-server options; port 0 means a
// free port (nats-server's RANDOM_PORT, since its own 0 means 4222).
func splitListen(listen string) (string, int, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("SCA_NATS_LISTEN: %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("SCA_NATS_LISTEN: %q: port must be 0..65535", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// ValidateListen checks a SCA_NATS_LISTEN value without starting anything.
func ValidateListen(listen string) error {
	_, _, err := splitListen(listen)
	return err
}

// Addr is the bound address, host:port.
func (s *Server) Addr() string { return s.addr }

// ClientURL is the URL clients connect to (loopback when bound to all interfaces).
func (s *Server) ClientURL() string {
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return s.srv.ClientURL()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, port)
}

// Shutdown stops the server, waits for it, and releases the data directory.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	_ = s.lock.Unlock()
}

// zapLogger adapts zap to nats-server's logger. Its notices are chatty
// (banner, JetStream layout) and go to debug.
// Its fatal errors (the server gave up) are also sent on fatal, so that
// Start reports them at once.
type zapLogger struct {
	log   *zap.Logger
	fatal chan<- string
}

func (l zapLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l zapLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l zapLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default: // one is enough
	}
}
func (l zapLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l zapLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l zapLogger) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
