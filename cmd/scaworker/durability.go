package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
)

// minDurableServer is the oldest NATS server version trusted with acknowledged writes:
// Jepsen's analysis of NATS 2.12.1 lost acknowledged writes on clusters, fixed by 2.12.3.
var minDurableServer = [3]int{2, 12, 3}

// durableReplicas is the replication a stream of triggers or outcomes needs on a cluster:
// it survives the loss of one node and keeps a quorum.
const durableReplicas = 3

// varzSubject asks every server of the system account for its configuration; only a
// client of the system account gets an answer.
const varzSubject = "$SYS.REQ.SERVER.PING.VARZ"

// durabilityProblems checks the NATS deployment holding the triggers and outcomes: the
// server's version, on a cluster the replicas of every stream and bucket of triggers or
// outcomes, and (when the server shows it to this client) the fsync interval. Each problem
// says what to change. notes are facts worth logging that are not problems.
func durabilityProblems(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, c consumer.Config) (problems, notes []string) {
	c = c.Defaults()
	if v := nc.ConnectedServerVersion(); olderThan(v, minDurableServer) {
		problems = append(problems, fmt.Sprintf("NATS server %s is older than 2.12.3, which fixed the loss of acknowledged writes found by Jepsen in 2.12.1: upgrade every server of the cluster", v))
	}
	if nc.ConnectedClusterName() != "" {
		streams := []struct{ name, setting string }{
			{c.Stream, "SCA_STREAM"}, {c.LinksStream, "SCA_LINKS_STREAM"}, {c.DLQStream, "SCA_DLQ_STREAM"},
			{"KV_" + c.LedgerBucket, "SCA_LEDGER_BUCKET"}, {"KV_" + c.UsersBucket, "SCA_USERS_BUCKET"}, {"KV_" + c.HooksBucket, "SCA_HOOKS_BUCKET"},
		}
		for _, s := range streams {
			st, err := js.Stream(ctx, s.name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				continue // created with SCA_REPLICAS when the worker starts
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: cannot read stream %s: %v", s.setting, s.name, err))
				continue
			}
			if r := st.CachedInfo().Config.Replicas; r < durableReplicas {
				problems = append(problems, fmt.Sprintf("%s: stream %s has %d replica(s) on cluster %s: one node lost is triggers or outcomes lost; give it 3 (nats stream edit %s --replicas 3; new streams: SCA_REPLICAS=3)", s.setting, s.name, max(r, 1), nc.ConnectedClusterName(), s.name))
			}
		}
	}
	switch syncs, err := syncIntervals(ctx, nc); {
	case err != nil:
		notes = append(notes, "the servers' sync_interval is not visible to this client (only to the system account): make sure every server runs with sync_interval: always, or a short interval")
	default:
		for server, d := range syncs {
			if d >= 2*time.Minute {
				problems = append(problems, fmt.Sprintf("NATS server %s flushes JetStream to disk only every %s (the default sync_interval): a power loss on a majority of nodes loses acknowledged writes, as Jepsen showed for 2.12.1; set jetstream { sync_interval: always } (or a few seconds)", server, d))
			}
		}
	}
	return problems, notes
}

// syncIntervals asks every server for its JetStream sync_interval (0 for sync_always). It
// fails when no server answers, which is the case for any client outside the system
// account.
func syncIntervals(ctx context.Context, nc *nats.Conn) (map[string]time.Duration, error) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(varzSubject, inbox, nil); err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	wait := time.Second
	for {
		msg, err := sub.NextMsg(wait)
		if err != nil {
			break
		}
		wait = 200 * time.Millisecond // the other servers answer together
		var v struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Data struct {
				JetStream struct {
					Config struct {
						SyncInterval time.Duration `json:"sync_interval"`
						SyncAlways   bool          `json:"sync_always"`
					} `json:"config"`
				} `json:"jetstream"`
			} `json:"data"`
		}
		if json.Unmarshal(msg.Data, &v) != nil || ctx.Err() != nil {
			continue
		}
		d := v.Data.JetStream.Config.SyncInterval
		if v.Data.JetStream.Config.SyncAlways {
			d = 0
		} else if d == 0 {
			d = 2 * time.Minute // not set: the server's default
		}
		out[v.Server.Name] = d
	}
	if len(out) == 0 {
		return nil, errors.New("no server answered")
	}
	return out, nil
}

// olderThan reports whether version ("2.12.1", "v2.12.3-RC.1") is before min; an
// unreadable version is not judged.
func olderThan(version string, min [3]int) bool {
	v, pre, _ := strings.Cut(strings.TrimPrefix(version, "v"), "-")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		if n != min[i] {
			return n < min[i]
		}
	}
	return pre != "" // a pre-release of min comes before it
}

// checkDurability runs the durability check at the start of `run`: each problem is a
// warning, or with SCA_REQUIRE_DURABLE a refusal (exit 2).
func checkDurability(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, c consumer.Config, require bool, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	problems, notes := durabilityProblems(ctx, nc, js, c)
	for _, n := range notes {
		log.Info("durability", zap.String("note", n))
	}
	if require && len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = fmt.Errorf("SCA_REQUIRE_DURABLE: %s", p)
		}
		return newConfigError(errs...)
	}
	for _, p := range problems {
		log.Warn("durability at risk", zap.String("problem", p))
	}
	return nil
}

// embeddedSingleReplica is what the embedded server (NATS_URL empty) means for durability.
const embeddedSingleReplica = "the embedded NATS server is a single replica and syncs to disk every 2 minutes: a lost disk or a power loss can lose triggers and outcomes; for production run a 3-node NATS cluster (sync_interval: always) and set NATS_URL"

// openListenProblem is the warning for an embedded server listening on listen (its bound
// address), or "" when it listens on loopback only: it has no authentication.
func openListenProblem(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback()) {
		return ""
	}
	return fmt.Sprintf("SCA_NATS_LISTEN: the embedded NATS server listens on %s, not a loopback address, without authentication: whoever reaches it can read and change every trigger, link and ledger entry; listen on 127.0.0.1, or run NATS with authentication and set NATS_URL", listen)
}
