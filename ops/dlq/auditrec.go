package dlq

import (
	"strconv"
	"strings"
	"time"

	"github.com/scaworker/scaworker/ops/audit"
)

// AuditSelection is the selection of a redrive or purge for its audit
// record (ops/audit): filters by flag name, the user by hash. The
// command line and the console record the same.
func AuditSelection(f Filter, olderThan time.Duration, limit int) map[string]string {
	sel := map[string]string{}
	if f.Reason != "" {
		sel["reason"] = f.Reason
	}
	if f.User != "" {
		sel["user_sha256"] = audit.UserHash(f.User)
	}
	if len(f.Seqs) > 0 {
		seqs := make([]string, len(f.Seqs))
		for i, s := range f.Seqs {
			seqs[i] = strconv.FormatUint(s, 10)
		}
		sel["seq"] = strings.Join(seqs, ",")
	}
	if f.All {
		sel["all"] = "true"
	}
	if olderThan > 0 {
		sel["older_than"] = olderThan.String()
	}
	if limit > 0 {
		sel["limit"] = strconv.Itoa(limit)
	}
	return sel
}

// RedriveCounts are the counts of a redrive for its audit record.
func RedriveCounts(results []RedriveResult) map[string]int {
	counts := map[string]int{"selected": len(results)}
	for _, r := range results {
		counts[r.Result]++
	}
	return counts
}

// PurgeCounts are the counts of a purge for its audit record.
func PurgeCounts(res PurgeResult) map[string]int {
	c := map[string]int{"selected": res.Selected, "deleted": res.Deleted, "gone": res.Gone}
	if e := res.Erasure; e != nil {
		c["triggers"], c["links"], c["ledger_entries"], c["ops_entries"] = e.Triggers, e.Links, e.LedgerEntries, e.OpsEntries
		if e.UserState {
			c["user_state"] = 1
		} else {
			c["user_state"] = 0
		}
	}
	return c
}
