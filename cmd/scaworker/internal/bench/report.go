package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// ratios fills Report.Ratios from the phases that ran: the worker's
// figures over each baseline's, and the bare pipeline's over raw.
func (r *Report) ratios() {
	by := map[string]*Phase{}
	for _, p := range r.Phases {
		by[p.Name] = p
	}
	div := func(a, b float64) (float64, bool) { return a / b, b > 0 }
	set := func(name string, a, b float64) {
		if v, ok := div(a, b); ok {
			r.Ratios[name] = v
		}
	}
	w, bare, raw := by["worker"], by["bare"], by["raw"]
	if w != nil && bare != nil {
		set("worker_vs_bare_events_per_s", w.EventsPerSec, bare.EventsPerSec)
		set("worker_vs_bare_links_per_s", w.LinksPerSec, bare.LinksPerSec)
		set("worker_vs_bare_worker_cpu_per_event", w.WorkerCPUUSPerEv, bare.WorkerCPUUSPerEv)
		set("worker_vs_bare_server_cpu_per_event", w.ServerCPUUSPerEv, bare.ServerCPUUSPerEv)
		set("worker_vs_bare_nats_requests_per_trigger", w.NATSOutPerTrigger, bare.NATSOutPerTrigger)
	}
	if w != nil && raw != nil {
		set("worker_vs_raw_events_per_s", w.EventsPerSec, raw.EventsPerSec)
		set("worker_vs_raw_server_cpu_per_event", w.ServerCPUUSPerEv, raw.ServerCPUUSPerEv)
	}
	if bare != nil && raw != nil {
		set("bare_vs_raw_events_per_s", bare.EventsPerSec, raw.EventsPerSec)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table: one column per phase.
func (r *Report) WriteText(w io.Writer) error {
	o := r.Options
	fmt.Fprintf(w, "%s\n", r.Command)
	fmt.Fprintf(w, "machine: %d CPUs, %s/%s, %s, %s; load %s\n", r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.LoadAvg)
	nodes := "1 node"
	if o.Cluster {
		nodes = "3-node R3 cluster, sync always"
	}
	mode := "prefilled backlog"
	if o.Rate > 0 {
		mode = fmt.Sprintf("live at %g/s", o.Rate)
	}
	budget := o.Budget
	if budget == "" {
		budget = "unlimited"
	}
	fmt.Fprintf(w, "%d triggers (%s), %s, mix %s, %d in flight, API latency %gms, error rate %g, budget %s\n\n",
		o.N, mode, nodes, o.Mix, o.InFlight, o.LatencyMS, o.ErrorRate, budget)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, p := range r.Phases {
		head = append(head, p.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(name, format string, f func(*Phase) any) {
		cells := []string{name}
		for _, p := range r.Phases {
			cells = append(cells, fmt.Sprintf(format, f(p)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("events", "%d", func(p *Phase) any { return p.Events })
	row("seconds", "%.2f", func(p *Phase) any { return p.Seconds })
	row("events/s", "%.0f", func(p *Phase) any { return p.EventsPerSec })
	row("links/s", "%.0f", func(p *Phase) any { return p.LinksPerSec })
	row("trigger-to-link p50 ms", "%.1f", func(p *Phase) any { return p.LatencyP50MS })
	row("trigger-to-link p99 ms", "%.1f", func(p *Phase) any { return p.LatencyP99MS })
	row("Mangopay calls/link", "%.3f", func(p *Phase) any { return p.CallsPerLink })
	row("429s", "%d", func(p *Phase) any { return p.Status429 })
	row("budget used", "%s", func(p *Phase) any {
		if p.BudgetUsed == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", *p.BudgetUsed*100)
	})
	row("worker CPU µs/event", "%.1f", func(p *Phase) any { return p.WorkerCPUUSPerEv })
	row("NATS server CPU µs/event", "%.1f", func(p *Phase) any { return p.ServerCPUUSPerEv })
	row("simulator CPU µs/event", "%.1f", func(p *Phase) any { return p.SimCPUUSPerEv })
	row("NATS requests/trigger", "%.2f", func(p *Phase) any { return p.NATSOutPerTrigger })
	row("NATS replies/trigger", "%.2f", func(p *Phase) any { return p.NATSInPerTrigger })
	row("RSS start/peak/end MB", "%s", func(p *Phase) any {
		return fmt.Sprintf("%.0f/%.0f/%.0f", p.RSSStartMB, p.RSSPeakMB, p.RSSEndMB)
	})
	row("goroutines peak", "%d", func(p *Phase) any { return p.GoroutinesPeak })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Phases {
		if len(p.Outcomes) > 0 {
			keys := make([]string, 0, len(p.Outcomes))
			for k := range p.Outcomes {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s %d", k, p.Outcomes[k])
			}
			fmt.Fprintf(w, "\n%s outcomes: %s\n", p.Name, strings.Join(parts, ", "))
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\nratios (side by side, this run):")
		keys := make([]string, 0, len(r.Ratios))
		for k := range r.Ratios {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-42s %.3f\n", k, r.Ratios[k])
		}
	}
	return nil
}
