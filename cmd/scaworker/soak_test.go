package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// BenchmarkSoakWorkerProcess runs the real binary against a backlog of
// b.N triggers and reports the worker process's own heap and resident
// memory (read from its /metrics) while the backlog drains: NATS and the
// simulator run in the benchmark's process, so they do not count. Every
// tenth trigger is an owner the simulator knows (a link); the rest are
// payers (a skip). Not part of CI; the 1,000,000-event soak:
//
//	go test ./cmd/scaworker -run '^$' -bench SoakWorkerProcess -benchtime 1000000x -timeout 2h
func BenchmarkSoakWorkerProcess(b *testing.B) {
	bin := binary(b)
	srv, js := testworld.Server(b)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, MaxAge: 24 * time.Hour}); err != nil {
		b.Fatal(err)
	}
	// One simulator window too large to spend: this measures the worker, not waiting.
	sim := mangosim.Start(mangosim.Options{Windows: []mangosim.Limit{{N: 1 << 30, Per: time.Minute}}})
	b.Cleanup(sim.Close)
	for i := range b.N {
		userID := "user_m_soak_" + strconv.Itoa(i)
		category := "PAYER"
		if i%10 == 0 {
			category = "OWNER"
			sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
				Status: mangosim.StatusActive, Email: userID + "@example.com"})
		}
		id := "soak-" + strconv.Itoa(i)
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/soak", "type": events.TypeUserCreated,
			"data": map[string]any{"user_id": userID, "category": category}})
		if _, err := js.PublishAsync("sca.events.user.created", body, jetstream.WithMsgID(id)); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 || i == b.N-1 {
			<-js.PublishAsyncComplete()
		}
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testworld.ReservePort(b)) // the worker logs at warn level: no "http listening" line to read
	logPath := filepath.Join(b.TempDir(), "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run")
	cmd.Env = []string{
		"HOME=" + b.TempDir(), "NATS_URL=" + srv.ClientURL(),
		"MANGOPAY_BASE_URL=" + sim.URL, "MANGOPAY_CLIENT_ID=" + sim.ClientID(), "MANGOPAY_API_KEY=" + sim.APIKey(),
		"SCA_MANGOPAY_RATE=1000000/1s", "SCA_RETURN_URL=https://platform.example/sca/done",
		"SCA_HTTP_ADDR=" + addr, "LOG_LEVEL=warn",
	}
	cmd.Stderr = logFile
	b.ResetTimer()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	metricsURL := "http://" + addr + "/metrics"
	var maxHeap, maxRSS float64
	cons := func() (uint64, int) {
		c, err := js.Consumer(ctx, "SCA_EVENTS", "scaworker")
		if err != nil {
			return 1, 0 // not created yet
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 1, 0
		}
		return info.NumPending, info.NumAckPending
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			b.Fatalf("worker exited: %v\n%s", cmd.ProcessState, log)
		case <-tick.C:
		}
		if m, err := scrape(metricsURL); err == nil {
			maxHeap = max(maxHeap, m["go_memstats_heap_inuse_bytes"])
			maxRSS = max(maxRSS, m["process_resident_memory_bytes"])
		}
		if pending, inHand := cons(); pending == 0 && inHand == 0 {
			break
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(maxHeap/(1<<20), "worker-max-heap-MiB")
	b.ReportMetric(maxRSS/(1<<20), "worker-max-rss-MiB")
}

// scrape reads the unlabelled gauges of a Prometheus text page.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return out, nil
}
