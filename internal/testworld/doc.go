// Package testworld is the test harness of scaworker: one call builds the
// world a test of the worker needs, and helpers read what came out of it.
//
// It is a test-support package, like river's rivertest and zap's zaptest:
// import it from _test.go files only, never from product code. It imports
// consumer, enroll, events and mangosim, so the tests that use it live in
// external test packages (consumer_test, hooks_test, ops_test).
//
// # The world
//
// [New] starts, for one test and torn down by its cleanups:
//
//   - an embedded NATS server with JetStream (a reserved port, its store in
//     t.TempDir), and a client connection;
//   - the Mangopay simulator ([mangosim.Start]);
//   - an [enroll.Client] on the simulator, with millisecond retries and a
//     rate no test reaches;
//   - scaworker's layout ([consumer.Provision]) and a real
//     [consumer.Consumer] whose outcomes are recorded, running unless
//     [Options.NoStart] is set;
//   - a zap observer logger. At cleanup every log line is scanned for the
//     API key and the link tokens ([World.CheckNoSecrets]).
//
// [JetStream] starts a bare server instead, for tests of the layout itself.
//
// [Options] holds what tests change: the consumer, client and simulator
// settings, a stopped consumer, quiet logging for benchmarks, a
// replacement links stream, a crash checkpoint and a wrapper of the
// Mangopay client the consumer calls.
//
// # Helpers
//
// Writes: [World.Publish], [World.PublishMsg], [World.UserCreated],
// [World.Hook] and [CloudEvent]. Waits, which poll and fail the test at
// their deadline, never sleep: [WaitFor], [World.OutcomeFor],
// [World.OutcomeAt], [World.WaitOutcome] and [World.Settled]. Reads:
// [World.Outcomes], [World.Links], [World.DeadLetters],
// [World.StreamMsgs], [World.ConsumerInfo], [World.LedgerEntry] and
// [World.LogText]. Faults and extra parts: [World.RestartServer] restarts
// NATS on the same port and store; [EnrollConfig] is the world's client
// configuration, for tests that build one client per replica.
//
// Servers and ports: [StartServer] starts a NATS server and fails the test
// (never panics) when it does not come up; [ReservePort] holds a loopback
// port for the test, for a server that must know its port before it starts
// or come back on it, or for an address where nothing answers. A port
// picked free and released before a server binds it is a race with every
// other test of the run: use ReservePort instead.
//
// A test reads:
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		w := testworld.New(t, testworld.Options{})
//		w.UserCreated("e1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
//		if got := w.OutcomeFor("e1"); got.Outcome != events.OutcomeLink {
//			t.Errorf("outcome = %s/%s, want link", got.Outcome, got.Reason)
//		}
//		w.Settled()
//	}
package testworld
