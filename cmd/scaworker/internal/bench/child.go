package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/scaworker/scaworker/mangosim"
)

// ChildEnv names the role of a bench child process: "nats" (the NATS
// server or the 3-node cluster) or "sim" (the Mangopay simulator). The
// children run apart from the worker so that the CPU each side spends is
// measured by the operating system, not attributed by guesswork.
const ChildEnv = "SCAWORKER_BENCH_CHILD"

// childConfigEnv carries the child's JSON configuration.
const childConfigEnv = "SCAWORKER_BENCH_CONFIG"

// childConfig configures a child; the fields of the other role are unused.
type childConfig struct {
	Dir        string        `json:"dir,omitempty"`
	Cluster    bool          `json:"cluster,omitempty"`
	SyncAlways bool          `json:"sync_always,omitempty"`
	Latency    time.Duration `json:"latency,omitempty"`
	ErrorRate  float64       `json:"error_rate,omitempty"`
	BudgetN    int           `json:"budget_n,omitempty"`
	BudgetPer  time.Duration `json:"budget_per,omitempty"`
	Owners     int           `json:"owners,omitempty"`   // users ownerID(0..Owners-1)
	Enrolled   int           `json:"enrolled,omitempty"` // users enrolledID(0..Enrolled-1)
}

// childHello is the one line a child prints once it serves.
type childHello struct {
	URL     string `json:"url"`
	Control string `json:"control"`
	Error   string `json:"error,omitempty"`
}

// childStats is what a child's control endpoint answers.
type childStats struct {
	CPUNanos int64 `json:"cpu_ns"`
	MaxRSS   int64 `json:"max_rss_bytes"`
	// Simulator only: calls with At in [from, to) (unix nanoseconds).
	Calls       int `json:"calls"`
	Status429   int `json:"status_429"`
	Enrollments int `json:"enrollments"`
}

func ownerID(i int) string    { return "bench_owner_" + strconv.Itoa(i) }
func enrolledID(i int) string { return "bench_enrolled_" + strconv.Itoa(i) }

// Child runs the role named by ChildEnv until its standard input closes
// (the parent's end of the pipe: a dead parent never leaves a child
// behind) and returns the exit code.
func Child(role string) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childConfigEnv)), &cfg); err != nil {
		return hello(childHello{Error: "bad config: " + err.Error()})
	}
	mux := http.NewServeMux()
	var clientURL string
	var stop func()
	switch role {
	case "nats":
		servers, err := startNATS(cfg)
		if err != nil {
			return hello(childHello{Error: err.Error()})
		}
		var urls []string
		for _, s := range servers {
			urls = append(urls, s.ClientURL())
		}
		clientURL = strings.Join(urls, ",")
		stop = func() {
			for _, s := range servers {
				s.Shutdown()
			}
			for _, s := range servers {
				s.WaitForShutdown()
			}
		}
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(selfStats())
		})
	case "sim":
		sim := startSim(cfg)
		clientURL, stop = sim.URL, sim.Close
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
			from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
			to, _ := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
			st := selfStats()
			for _, c := range sim.Calls() {
				if at := c.At.UnixNano(); at < from || (to > 0 && at >= to) {
					continue
				}
				st.Calls++
				if c.Status == http.StatusTooManyRequests {
					st.Status429++
				}
				if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/enrollment") {
					st.Enrollments++
				}
			}
			_ = json.NewEncoder(w).Encode(st)
		})
		mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) { sim.ResetCalls() })
	default:
		return hello(childHello{Error: "unknown role " + role})
	}
	defer stop()
	var prof struct {
		sync.Mutex
		f *os.File
	}
	mux.HandleFunc("POST /cpuprofile/start", func(w http.ResponseWriter, r *http.Request) {
		prof.Lock()
		defer prof.Unlock()
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		prof.f = f
	})
	mux.HandleFunc("POST /cpuprofile/stop", func(w http.ResponseWriter, r *http.Request) {
		prof.Lock()
		defer prof.Unlock()
		if prof.f != nil {
			pprof.StopCPUProfile()
			_ = prof.f.Close()
			prof.f = nil
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return hello(childHello{Error: err.Error()})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if code := hello(childHello{URL: clientURL, Control: "http://" + ln.Addr().String()}); code != 0 {
		return code
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes the pipe or dies
	return 0
}

func hello(h childHello) int {
	_ = json.NewEncoder(os.Stdout).Encode(h)
	if h.Error != "" {
		return 1
	}
	return 0
}

// selfStats is this process's CPU time and peak resident set.
func selfStats() childStats {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return childStats{CPUNanos: ru.Utime.Nano() + ru.Stime.Nano(), MaxRSS: ru.Maxrss * 1024}
}

// startNATS starts one JetStream server, or three clustered ones in this
// process (their CPU is the cluster's).
func startNATS(cfg childConfig) ([]*server.Server, error) {
	n := 1
	if cfg.Cluster {
		n = 3
	}
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: "bench-" + strconv.Itoa(i),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: filepath.Join(cfg.Dir, "n"+strconv.Itoa(i)),
			NoSigs: true, MaxPayload: 1 << 20, SyncAlways: cfg.SyncAlways,
		}
		if cfg.Cluster {
			opts.Cluster = server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: ports[i]}
			for j, p := range ports {
				if j != i {
					opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)})
				}
			}
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return nil, err
		}
		s.Start()
		servers = append(servers, s)
	}
	for _, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			return nil, errors.New("nats server not ready after 30s")
		}
	}
	return servers, nil
}

// startSim starts the simulator with the bench's users, latency, error
// rate and budget.
func startSim(cfg childConfig) *mangosim.Server {
	opts := mangosim.Options{Users: []mangosim.User{}, Windows: []mangosim.Limit{{N: 1 << 30, Per: time.Minute}}}
	if cfg.BudgetN > 0 {
		opts.Windows = []mangosim.Limit{{N: cfg.BudgetN, Per: cfg.BudgetPer}}
	}
	sim := mangosim.Start(opts)
	for i := range cfg.Owners {
		id := ownerID(i)
		sim.AddUser(mangosim.User{ID: id, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: id + "@example.com"})
	}
	for i := range cfg.Enrolled {
		id := enrolledID(i)
		sim.AddUser(mangosim.User{ID: id, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: id + "@example.com", Enrolled: true, Triggered: true})
	}
	sim.SetFaults(mangosim.Faults{Latency: cfg.Latency, ErrorRate: cfg.ErrorRate})
	return sim
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	hello childHello
	http  *http.Client
}

// spawn starts exe as a child with role and cfg, and waits for its hello.
func spawn(ctx context.Context, exe, role string, cfg childConfig, stderr io.Writer) (*child, error) {
	b, _ := json.Marshal(cfg)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ChildEnv+"="+role, childConfigEnv+"="+string(b))
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s child: %w", role, err)
	}
	c := &child{cmd: cmd, stdin: stdin, http: &http.Client{Timeout: 60 * time.Second}}
	line := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			line <- fmt.Errorf("%s child exited before it was ready", role)
			return
		}
		line <- json.Unmarshal(sc.Bytes(), &c.hello)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-line:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && c.hello.Error != "" {
		err = fmt.Errorf("%s child: %s", role, c.hello.Error)
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) stats(from, to time.Time) (childStats, error) {
	var st childStats
	q := "?from=" + strconv.FormatInt(from.UnixNano(), 10)
	if !to.IsZero() {
		q += "&to=" + strconv.FormatInt(to.UnixNano(), 10)
	}
	resp, err := c.http.Get(c.hello.Control + "/stats" + q)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *child) post(path string) error {
	resp, err := c.http.Post(c.hello.Control+path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", path, strings.TrimSpace(string(b)))
	}
	return nil
}
