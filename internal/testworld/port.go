package testworld

import (
	"syscall"
	"testing"
)

// ReservePort holds a loopback TCP port until the test ends, and returns
// it. Nothing listens on it, so a connection to it is refused; and no
// other socket of the machine gets it, neither a listener asking for any
// free port nor the local end of a connection. A server told to listen on
// it still can, and when that server stops the port is held again at once.
//
// Picking a free port and releasing it before a server binds it is a race
// with every other test of the run; a server restarted on its port after a
// while is another. ReservePort has neither: the port is held by a socket
// that is bound with SO_REUSEADDR and never listens, which on Linux keeps
// it from automatic port choice (bind to port 0, connect) while a
// listener with SO_REUSEADDR, as Go's are, may bind it beside that socket.
func ReservePort(t testing.TB) int {
	t.Helper()
	// As the net package does: no fork may inherit the socket.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("reserve a port: socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatalf("reserve a port: SO_REUSEADDR: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("reserve a port: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("reserve a port: getsockname: %v", err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}
