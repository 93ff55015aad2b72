package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// natsCluster is a 3-node JetStream cluster on loopback, in the test process, with file
// storage; a node can be killed and brought back on the same ports and store.
type natsCluster struct {
	t    *testing.T
	mu   sync.Mutex
	opts []*server.Options
	srvs []*server.Server
}

func startCluster(t *testing.T) *natsCluster {
	t.Helper()
	// Every node must know the route ports before it starts, and a node killed comes back on
	// its ports: they are reserved for the test (testworld.ReservePort), so no other test of
	// the run takes one meanwhile. A start that fails all the same is retried on fresh ports.
	var err error
	for range 3 {
		var c *natsCluster
		if c, err = tryCluster(t); err == nil {
			t.Cleanup(func() {
				for i := range 3 {
					c.kill(i)
				}
			})
			return c
		}
		t.Logf("starting the cluster: %v; again on other ports", err)
	}
	t.Fatal(err)
	return nil
}

// tryCluster starts three nodes on ports picked now, or stops them all and says why not.
func tryCluster(t *testing.T) (*natsCluster, error) {
	c := &natsCluster{t: t}
	var clients, routes []int
	for range 3 {
		clients = append(clients, testworld.ReservePort(t))
		routes = append(routes, testworld.ReservePort(t))
	}
	var urls []string
	for _, p := range routes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range 3 {
		o := natsserver.DefaultTestOptions
		o.ServerName = "n" + strconv.Itoa(i)
		o.Port = clients[i]
		o.JetStream, o.StoreDir = true, t.TempDir()
		o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = "sca", "127.0.0.1", routes[i]
		o.Routes = server.RoutesFromStr(strings.Join(urls, ","))
		c.opts = append(c.opts, &o)
		c.srvs = append(c.srvs, nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i := range 3 {
			c.kill(i)
		}
		return nil, err
	}
	return c, nil
}

// start (re)starts node i on its ports and store, and waits until it accepts connections.
// The wait is generous: on a loaded machine a node recovering its store takes a while.
func (c *natsCluster) start(i int) error {
	o := *c.opts[i]
	// As nats-server's own test helper: no logger (a logged Fatalf would exit the test
	// binary), one route connection per peer, no compression.
	o.NoLog, o.NoSigs = true, true
	o.Cluster.PoolSize = -1
	o.Cluster.Compression.Mode = server.CompressionOff
	srv, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.ServerName, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("node %s not accepting connections after 30s (client port %d, route port %d)", o.ServerName, c.opts[i].Port, c.opts[i].Cluster.Port)
	}
	c.mu.Lock()
	c.srvs[i] = srv
	c.mu.Unlock()
	return nil
}

// kill stops node i, if it runs.
func (c *natsCluster) kill(i int) {
	c.mu.Lock()
	srv := c.srvs[i]
	c.srvs[i] = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// index is the node named name, or -1.
func (c *natsCluster) index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// urls is every node's client URL, as NATS_URL.
func (c *natsCluster) urls() string {
	var u []string
	for _, o := range c.opts {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(u, ",")
}

// TestClusterSurvivesNodeAndReplicaLoss: two worker replicas on a 3-node JetStream cluster
// (R3 file storage) drain a backlog against the simulator; meanwhile the trigger stream's
// leader node and one replica are killed and both brought back, then the ledger bucket's
// leader node. Every trigger ends with
// exactly one outcome, no trigger gets two links, and the shared budget held.
func TestClusterSurvivesNodeAndReplicaLoss(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	cluster := startCluster(t)
	nc, err := nats.Connect(cluster.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// quick bounds one request of a waiter: while a node is down, a request may go unanswered.
	quick := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	testworld.WaitFor(t, "the JetStream cluster to elect its leader", 30*time.Second, func() bool {
		qctx, cancel := quick()
		defer cancel()
		_, err := js.AccountInfo(qctx)
		return err == nil
	})

	const n, budgetN, per = 80, 20, 2 * time.Second
	sim := mangosim.Start(mangosim.Options{APIKey: testAPIKey, Windows: []mangosim.Limit{{N: budgetN, Per: per}}})
	t.Cleanup(sim.Close)
	env := append(workerProcessEnv(cluster.urls(), sim, fmt.Sprintf("%d/%s", budgetN, per)), "SCA_REPLICAS=3")

	start := time.Now()
	var timeline []string
	mark := func(format string, args ...any) {
		timeline = append(timeline, fmt.Sprintf("%6.2fs  %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...)))
	}
	ready := func(r *replica) {
		waitReady(t, r)
		mark("replica %s ready", r.name)
	}
	a := startReplica(t, bin, "a", env) // creates the R3 layout
	ready(a)
	b := startReplica(t, bin, "b", env)
	ready(b)
	ids := publishOwners(t, ctx, js, sim, "cluster", n)
	mark("%d triggers published", n)

	links := func() int {
		qctx, cancel := quick()
		defer cancel()
		st, err := js.Stream(qctx, "SCA_LINKS")
		if err != nil {
			return -1
		}
		return linksStored(qctx, st)
	}
	waitLinks := func(want int) {
		testworld.WaitFor(t, fmt.Sprintf("%d links", want), 60*time.Second, func() bool { return links() >= want })
	}
	leader := func(stream string) string {
		qctx, cancel := quick()
		defer cancel()
		st, err := js.Stream(qctx, stream)
		if err != nil || st.CachedInfo().Cluster == nil {
			return ""
		}
		return st.CachedInfo().Cluster.Leader
	}

	waitLinks(10)
	old := leader("SCA_EVENTS")
	node := cluster.index(old)
	if node < 0 {
		t.Fatalf("leader of SCA_EVENTS %q is not a node of the cluster", old)
	}
	so := links()
	cluster.kill(node)
	mark("killed NATS node %s, leader of SCA_EVENTS (links so far: %d)", old, so)
	testworld.WaitFor(t, "a new leader of SCA_EVENTS", 30*time.Second, func() bool {
		l := leader("SCA_EVENTS")
		return l != "" && l != old
	})
	mark("SCA_EVENTS has a new leader: %s", leader("SCA_EVENTS"))

	waitLinks(25)
	so = links()
	a.kill()
	mark("killed replica a with SIGKILL (links so far: %d)", so)

	waitLinks(35)
	if err := cluster.start(node); err != nil {
		t.Fatal(err)
	}
	mark("NATS node %s back", old)
	a = startReplica(t, bin, "a2", env)
	ready(a)

	// Once more, the node leading the ledger's bucket (compare-and-set on R3).
	waitLinks(50)
	old = leader("KV_sca_ledger")
	if node = cluster.index(old); node < 0 {
		t.Fatalf("leader of KV_sca_ledger %q is not a node of the cluster", old)
	}
	so = links()
	cluster.kill(node)
	mark("killed NATS node %s, leader of KV_sca_ledger (links so far: %d)", old, so)
	testworld.WaitFor(t, "a new leader of KV_sca_ledger", 30*time.Second, func() bool {
		l := leader("KV_sca_ledger")
		return l != "" && l != old
	})
	mark("KV_sca_ledger has a new leader: %s", leader("KV_sca_ledger"))
	waitLinks(so + 10) // progress with the node down
	mark("%d links with node %s down", links(), old)
	if err := cluster.start(node); err != nil {
		t.Fatal(err)
	}
	mark("NATS node %s back", old)

	testworld.WaitFor(t, "the backlog to drain", 90*time.Second, func() bool {
		qctx, cancel := quick()
		defer cancel()
		c, err := js.Consumer(qctx, "SCA_EVENTS", "scaworker")
		if err != nil {
			return false
		}
		info, err := c.Info(qctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && links() >= n
	})
	mark("backlog drained: %d links", links())

	// Exactly one outcome per trigger; one link per trigger.
	ledger, err := js.KeyValue(ctx, "sca_ledger")
	if err != nil {
		t.Fatal(err)
	}
	got := readLinks(t, ctx, js)
	unmarked := 0
	for _, id := range ids {
		e, err := ledger.Get(ctx, events.KeyOf("/cluster", id))
		if err != nil {
			t.Errorf("%s: no ledger entry: %v", id, err)
			continue
		}
		var rec struct {
			Outcome string
			Pending json.RawMessage
		}
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Outcome != "link" {
			t.Errorf("%s: ledger outcome %q, want link", id, rec.Outcome)
		}
		if len(rec.Pending) > 0 {
			// Published and acknowledged, but the mark "published" was not saved while
			// the ledger's leader was down (the consumer saves it best effort).
			unmarked++
		}
		if got[id] != 1 {
			t.Errorf("%s: %d links, want 1", id, got[id])
		}
	}
	for _, name := range []string{"SCA_EVENTS", "SCA_LINKS", "KV_sca_ledger", "KV_sca_budget"} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s has %d replicas, want 3 (SCA_REPLICAS)", name, r)
		}
	}
	calls, most, tooMany := budgetFigures(sim, per)
	if most > budgetN {
		t.Errorf("most calls in one window of %s = %d, want at most the budget %d", per, most, budgetN)
	}
	if tooMany > 0 {
		t.Errorf("429s = %d, want none", tooMany)
	}
	mark("budget %d/%s: %d calls, most in any %s window %d, 429s %d; %d links for %d triggers (%d ledger entries still marked unpublished)", budgetN, per, calls, per, most, tooMany, len(got), n, unmarked)
	t.Logf("kill timeline:\n%s", strings.Join(timeline, "\n"))
}

// TestDurabilityOnACluster: on a cluster, a stream of triggers with one replica is
// reported with its fix (a warning in check, a failure with --require-durable); one with
// three is not.
func TestDurabilityOnACluster(t *testing.T) {
	t.Parallel()
	cluster := startCluster(t)
	nc, err := nats.Connect(cluster.urls(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testworld.WaitFor(t, "the stream to be created on the cluster", 30*time.Second, func() bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(qctx, jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, Replicas: 1, Storage: jetstream.FileStorage})
		return err == nil
	})
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCA_LINKS", Subjects: []string{"sca.links.>"}, Replicas: 3, AllowMsgTTL: true, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}

	env := workerEnv(t, startSim(t))
	env["NATS_URL"] = cluster.urls()
	code, out, _ := runSync(t, []string{"check"}, env)
	want := "durability: WARNING: SCA_STREAM: stream SCA_EVENTS has 1 replica(s) on cluster sca"
	if code != exitOK || !strings.Contains(out, want) || strings.Contains(out, "SCA_LINKS_STREAM") {
		t.Errorf("check = %d, want 0 with %q and nothing about SCA_LINKS:\n%s", code, want, out)
	}
	code, out, _ = runSync(t, []string{"check", "--require-durable"}, env)
	if want := "durability: FAILED: SCA_REQUIRE_DURABLE: SCA_STREAM: stream SCA_EVENTS has 1 replica(s)"; code != exitFailure || !strings.Contains(out, want) {
		t.Errorf("check --require-durable = %d, want 1 with %q:\n%s", code, want, out)
	}
}
