package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// TestBenchJSON runs `scaworker bench` on a tiny mixed backlog and checks
// that the JSON report has every phase, every trigger settled, the
// figures the issue asks for, and the side-by-side ratios.
func TestBenchJSON(t *testing.T) {
	t.Parallel()
	const n = 300
	cmd := exec.Command(binary(t), "bench", "-n", "300", "--in-flight", "16", "--json", "--no-progress",
		"--mix", "owners=50,payers=30,enrolled=10,invalid=5,duplicates=5")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	var rep struct {
		Machine struct {
			CPUs int `json:"cpus"`
		} `json:"machine"`
		Phases []map[string]any `json:"phases"`
		Ratios map[string]float64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Machine.CPUs < 1 {
		t.Errorf("machine.cpus = %d", rep.Machine.CPUs)
	}
	var names []string
	for _, p := range rep.Phases {
		names = append(names, p["name"].(string))
		if got := p["events"].(float64); got != n {
			t.Errorf("phase %s: events = %v, want %d", p["name"], got, n)
		}
		for _, key := range []string{"events_per_s", "links_per_s", "trigger_to_link_p50_ms", "trigger_to_link_p99_ms",
			"mangopay_calls_per_link", "mangopay_429s", "budget_used", "worker_cpu_us_per_event", "server_cpu_us_per_event",
			"nats_requests_per_trigger", "rss_peak_mb", "goroutines_peak"} {
			if _, ok := p[key]; !ok {
				t.Errorf("phase %s: no %s", p["name"], key)
			}
		}
	}
	if len(names) != 3 || names[0] != "raw" || names[1] != "bare" || names[2] != "worker" {
		t.Fatalf("phases = %v, want raw, bare, worker", names)
	}
	w := rep.Phases[2]
	outcomes := w["outcomes"].(map[string]any)
	total := 0.0
	for _, v := range outcomes {
		total += v.(float64)
	}
	if total != n || outcomes["link"] == nil || outcomes["skip"] == nil || outcomes["dlq"] == nil || outcomes["duplicate"] == nil || outcomes["state"] == nil {
		t.Errorf("worker outcomes = %v, want %d in all, with link, skip, dlq, duplicate and state", outcomes, n)
	}
	if w["nats_requests_per_trigger"].(float64) <= 0 || w["worker_cpu_us_per_event"].(float64) <= 0 || w["server_cpu_us_per_event"].(float64) <= 0 {
		t.Errorf("worker phase without requests or CPU: %v", w)
	}
	for _, key := range []string{"worker_vs_bare_events_per_s", "worker_vs_raw_events_per_s", "bare_vs_raw_events_per_s",
		"worker_vs_bare_worker_cpu_per_event", "worker_vs_bare_server_cpu_per_event", "worker_vs_bare_nats_requests_per_trigger"} {
		if v, ok := rep.Ratios[key]; !ok || v <= 0 {
			t.Errorf("ratio %s = %v (present %v), want > 0", key, v, ok)
		}
	}
}
