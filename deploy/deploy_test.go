package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// manifests are the decoded Kubernetes files of deploy/kubernetes.
type manifests struct {
	deployment     *appsv1.Deployment
	job            *batchv1.Job
	configMap      *corev1.ConfigMap
	secret         *corev1.Secret
	services       map[string]*corev1.Service
	ingress        *networkingv1.Ingress
	networkPolicy  *networkingv1.NetworkPolicy
	pdb            *policyv1.PodDisruptionBudget
	serviceMonitor *serviceMonitor
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the manifest uses
// (the Prometheus Operator's types are not worth their dependencies); decoded strictly,
// so a misspelt field fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// kustomization is the part of kustomize.config.k8s.io/v1beta1 Kustomization used.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
}

// templates are the files of deploy/kubernetes that kustomization.yaml leaves out on purpose.
var templates = []string{"job-operator.yaml"}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	var k kustomization
	strictFile(t, "kubernetes/kustomization.yaml", &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && !slices.Contains(k.Resources, base) && !slices.Contains(templates, base) {
			t.Errorf("%s is neither a resource of kustomization.yaml nor a known template", f)
		}
	}
	m := &manifests{services: map[string]*corev1.Service{}}
	for _, base := range append(slices.Clone(k.Resources), templates...) {
		b, err := os.ReadFile(filepath.Join("kubernetes", base))
		if err != nil {
			t.Fatalf("kustomization.yaml names %s: %v", base, err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s document %d", base, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj any
			wantAPI := ""
			switch tm.Kind {
			case "Deployment":
				m.deployment, obj, wantAPI = &appsv1.Deployment{}, nil, "apps/v1"
				obj = m.deployment
			case "Job":
				m.job = &batchv1.Job{}
				obj, wantAPI = m.job, "batch/v1"
			case "ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				obj, wantAPI = m.configMap, "v1"
			case "Secret":
				m.secret = &corev1.Secret{}
				obj, wantAPI = m.secret, "v1"
			case "Service":
				svc := &corev1.Service{}
				obj, wantAPI = svc, "v1"
				if err := yaml.Unmarshal([]byte(doc), svc); err == nil {
					m.services[svc.Name] = svc
				}
			case "Ingress":
				m.ingress = &networkingv1.Ingress{}
				obj, wantAPI = m.ingress, "networking.k8s.io/v1"
			case "NetworkPolicy":
				m.networkPolicy = &networkingv1.NetworkPolicy{}
				obj, wantAPI = m.networkPolicy, "networking.k8s.io/v1"
			case "PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				obj, wantAPI = m.pdb, "policy/v1"
			case "ServiceMonitor":
				m.serviceMonitor = &serviceMonitor{}
				obj, wantAPI = m.serviceMonitor, "monitoring.coreos.com/v1"
			default:
				t.Fatalf("%s: unexpected kind %q", where, tm.Kind)
			}
			if tm.APIVersion != wantAPI {
				t.Errorf("%s: %s has apiVersion %q, want %q", where, tm.Kind, tm.APIVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s: %s does not decode strictly into the Kubernetes type: %v", where, tm.Kind, err)
			}
		}
	}
	if m.deployment == nil || m.job == nil || m.configMap == nil || m.secret == nil || m.ingress == nil ||
		m.networkPolicy == nil || m.pdb == nil || m.serviceMonitor == nil || len(m.services) != 2 {
		t.Fatalf("deploy/kubernetes lacks a kind: %+v", m)
	}
	return m
}

func stripComments(doc string) string {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")
}

func strictFile(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestKubernetesManifests: every manifest decodes strictly into its API type, and the
// Deployment is what the issue asks of it.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d := m.deployment.Spec.Template.Spec
	if len(d.Containers) != 1 {
		t.Fatalf("containers = %d, want 1", len(d.Containers))
	}
	c := d.Containers[0]
	if c.StartupProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Errorf("the container lacks a startup, liveness or readiness probe")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext = %+v, want readOnlyRootFilesystem and no privilege escalation", sc)
	}
	if ps := d.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod securityContext = %+v, want a non-root user", ps)
	}
	if g := d.TerminationGracePeriodSeconds; g == nil || *g <= 25 {
		t.Errorf("terminationGracePeriodSeconds must exceed SCA_SHUTDOWN_TIMEOUT (25s)")
	}
	if m.pdb.Spec.MinAvailable == nil && m.pdb.Spec.MaxUnavailable == nil {
		t.Errorf("the PodDisruptionBudget bounds nothing")
	}
	for _, sel := range []map[string]string{m.pdb.Spec.Selector.MatchLabels, m.networkPolicy.Spec.PodSelector.MatchLabels, m.deployment.Spec.Selector.MatchLabels} {
		for k, v := range sel {
			if m.deployment.Spec.Template.Labels[k] != v {
				t.Errorf("selector %v does not select the Deployment's pods %v", sel, m.deployment.Spec.Template.Labels)
			}
		}
	}
	if len(m.ingress.Spec.TLS) == 0 {
		t.Errorf("the Ingress example has no TLS")
	}
	for _, key := range []string{"api-key", "tls.crt", "tls.key", "client-id", "hook-secret", "nats-url", "admin-auth"} {
		if _, ok := m.secret.StringData[key]; !ok {
			t.Errorf("the Secret lacks %s", key)
		}
	}
	// Operator commands that change state need --yes without a terminal, and --operator.
	args := strings.Join(m.job.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--yes", "--operator"} {
		if !strings.Contains(args, want) {
			t.Errorf("the operator Job's args %q lack %s", args, want)
		}
	}
}

// env returns the variables a container sets, the ConfigMap's keys included when it
// reads it with envFrom.
func env(m *manifests, c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == m.configMap.Name {
			for k, v := range m.configMap.Data {
				out[k] = v
			}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
		if e.ValueFrom != nil {
			out[e.Name] = "<from " + e.ValueFrom.SecretKeyRef.Key + ">"
		}
	}
	return out
}

// TestManifestsSetOnlySettings: every variable the manifests set is a setting the binary
// reads (its settings table), so a renamed setting cannot leave them stale; the webhook
// door is closed (a secret path and an allowlist, the client-IP header only with trusted
// proxies) and the ops endpoints are off the public listener.
func TestManifestsSetOnlySettings(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	out, err := exec.Command(binary(t), "settings-table").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, s := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)`").FindAllStringSubmatch(string(out), -1) {
		known[s[1]] = true
	}
	if len(known) < 20 {
		t.Fatalf("read %d settings from the binary", len(known))
	}
	for _, c := range []corev1.Container{m.deployment.Spec.Template.Spec.Containers[0], m.job.Spec.Template.Spec.Containers[0]} {
		for k := range env(m, c) {
			if !known[k] {
				t.Errorf("the manifests set %s, which is not a scaworker setting", k)
			}
		}
	}
	e := env(m, m.deployment.Spec.Template.Spec.Containers[0])
	for _, want := range []string{"SCA_HOOK_SECRET", "SCA_HOOK_ALLOW_CIDRS", "SCA_ADMIN_ADDR", "SCA_HTTP_ADDR", "NATS_URL", "MANGOPAY_API_KEY_FILE", "MANGOPAY_TLS_CERT", "MANGOPAY_TLS_KEY", "SCA_REQUIRE_DURABLE", "SCA_ADMIN_AUTH_FILE"} {
		if e[want] == "" {
			t.Errorf("the Deployment does not set %s", want)
		}
	}
	if e["SCA_HOOK_CLIENT_IP_HEADER"] != "" && e["SCA_HOOK_TRUSTED_PROXIES"] == "" {
		t.Errorf("SCA_HOOK_CLIENT_IP_HEADER without SCA_HOOK_TRUSTED_PROXIES")
	}
	if _, ok := e["MANGOPAY_API_KEY"]; ok {
		t.Errorf("the API key is set as a variable; mount it as a file (MANGOPAY_API_KEY_FILE)")
	}
}

// port returns the port of a host:port setting.
func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	var n int32
	fmt.Sscan(p, &n)
	return n
}

// TestProbesAndPorts: the probes ask the admin listener (SCA_ADMIN_ADDR) for /healthz and
// /readyz; the Services, the Ingress, the ServiceMonitor and the NetworkPolicy point at the
// ports the settings open: webhooks on the public one, metrics on the admin one.
func TestProbesAndPorts(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	c := m.deployment.Spec.Template.Spec.Containers[0]
	e := env(m, c)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != port(t, e["SCA_HTTP_ADDR"]) || ports["admin"] != port(t, e["SCA_ADMIN_ADDR"]) {
		t.Errorf("container ports %v do not match SCA_HTTP_ADDR %s and SCA_ADMIN_ADDR %s", ports, e["SCA_HTTP_ADDR"], e["SCA_ADMIN_ADDR"])
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe = %+v, want GET %s on port admin", name, p.HTTPGet, want)
		}
	}
	if svc := m.services["scaworker"]; svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("the webhook Service must expose only the http port")
	}
	if svc := m.services["scaworker-admin"]; svc == nil || svc.Spec.Ports[0].TargetPort.String() != "admin" {
		t.Errorf("the admin Service must target the admin port")
	}
	for _, r := range m.ingress.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service.Name != "scaworker" || p.Backend.Service.Port.Name != "http" || !strings.HasPrefix(p.Path, "/hooks/mangopay") {
				t.Errorf("Ingress path %s routes to %s:%s, want only /hooks/mangopay to scaworker:http", p.Path, p.Backend.Service.Name, p.Backend.Service.Port.Name)
			}
		}
	}
	ep := m.serviceMonitor.Spec.Endpoints
	if len(ep) != 1 || ep[0].Port != "admin" || ep[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %+v, want /metrics on admin", ep)
	}
	for k, v := range m.serviceMonitor.Spec.Selector.MatchLabels {
		if m.services["scaworker-admin"].Labels[k] != v {
			t.Errorf("the ServiceMonitor does not select the admin Service")
		}
	}
	npPorts := map[int32]bool{}
	for _, r := range m.networkPolicy.Spec.Ingress {
		for _, p := range r.Ports {
			npPorts[p.Port.IntVal] = true
		}
	}
	if !npPorts[ports["http"]] || !npPorts[ports["admin"]] || len(npPorts) != 2 {
		t.Errorf("NetworkPolicy ingress ports %v, want exactly http %d and admin %d", npPorts, ports["http"], ports["admin"])
	}
}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// binary builds cmd/scaworker as deploy/ociimage does (static), once per test process.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "deploy-bin-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "scaworker")
		cmd := exec.Command("go", "build", "-trimpath", "-o", build.bin, "../cmd/scaworker")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.out)
	}
	return build.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// selfSignedCert writes a certificate and key valid for a year (MANGOPAY_TLS_CERT with a
// loopback simulator: loaded and reported, never presented over plain http).
func selfSignedCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scaworker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

const hookSecret = "deploy-test-hook-secret-0123456789"

// exported starts the binary with the manifests' listener layout (public and admin
// listeners, mTLS certificate) against the simulator, NATS being a server whose only
// account is the one deploy/nats/values.yaml gives scaworker (so the permissions listed
// there are enough), waits until it is ready and returns the metric names /metrics
// exports, and what the public listener answers for the ops paths.
func exported(t *testing.T, want map[string]bool) (names map[string]bool, public map[string]int) {
	t.Helper()
	sim := mangosim.Start(mangosim.Options{})
	t.Cleanup(sim.Close)
	natsURL := natsWithValuesAccount(t)
	cert, key := selfSignedCert(t)
	cmd := exec.Command(binary(t), "run")
	cmd.Env = []string{
		"MANGOPAY_BASE_URL=" + sim.URL, "MANGOPAY_CLIENT_ID=" + sim.ClientID(), "MANGOPAY_API_KEY=" + sim.APIKey(),
		"MANGOPAY_TLS_CERT=" + cert, "MANGOPAY_TLS_KEY=" + key,
		"SCA_RETURN_URL=https://platform.example/sca/done", "NATS_URL=" + natsURL,
		"SCA_HTTP_ADDR=127.0.0.1:0", "SCA_ADMIN_ADDR=127.0.0.1:0", "SCA_SHUTDOWN_TIMEOUT=2s",
		"SCA_RETRY_DELAY_MIN=1s", "SCA_RETRY_DELAY_MAX=2s", "SCA_MANGOPAY_RETRIES=1",
		"SCA_HOOK_SECRET=" + hookSecret, "SCA_HOOK_ALLOW_CIDRS=127.0.0.1",
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("the worker's stderr:\n%s", stderr.String())
		}
	})
	addrs := map[string]string{}
	testworld.WaitFor(t, "the worker to be ready", 60*time.Second, func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			if l["msg"] == "http listening" {
				addrs[fmt.Sprint(l["setting"])] = fmt.Sprint(l["addr"])
			}
			if l["msg"] == "ready" {
				return len(addrs) == 2
			}
		}
		if cmd.ProcessState != nil {
			t.Fatalf("the worker exited:\n%s", stderr.String())
		}
		return false
	})
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	public = map[string]int{}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := get("http://" + addrs["SCA_ADMIN_ADDR"] + p); code != http.StatusOK {
			t.Errorf("admin %s = %d, want 200", p, code)
		}
		public[p], _ = get("http://" + addrs["SCA_HTTP_ADDR"] + p)
	}
	// Labelled metrics appear once they have a value: make the worker do what they count.
	// A hook whose Mangopay calls fail (a retry, then a link) and one for a user Mangopay
	// does not know (a dead letter).
	sim.SetFaults(mangosim.Faults{Burst5xx: 4})
	hook := func(user string) {
		q := fmt.Sprintf("?EventType=SCA_ENROLLMENT_FAILED&RessourceId=%s&Date=%d", user, time.Now().Add(-time.Minute).Unix())
		if code, body := get("http://" + addrs["SCA_HTTP_ADDR"] + "/hooks/mangopay/" + hookSecret + q); code != http.StatusOK {
			t.Fatalf("hook for %s = %d %s", user, code, body)
		}
	}
	hook(mangosim.UserOwnerNatural)
	hook("user_m_unknown_to_mangopay")
	scrape := func() map[string]bool {
		_, body := get("http://" + addrs["SCA_ADMIN_ADDR"] + "/metrics")
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(body, -1) {
			out[m[1]] = true
			if m[2] == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					out[m[1]+s] = true
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for names = scrape(); time.Now().Before(deadline); names = scrape() {
		missing := false
		for n := range want {
			missing = missing || !names[n]
		}
		if !missing {
			break
		}
		select { // poll until every wanted metric appears or the deadline passes
		case <-time.After(200 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	// The operator commands' user of values.yaml may list the dead letters the worker wrote.
	opsURL := strings.Replace(natsURL, "nats://scaworker:", "nats://scaworker-ops:", 1)
	list := exec.Command(binary(t), "dlq", "list")
	list.Env = []string{"NATS_URL=" + opsURL}
	if out, err := list.CombinedOutput(); err != nil || strings.Contains(string(out), "Permissions Violation") {
		t.Errorf("dlq list as scaworker-ops: %v\n%s", err, out)
	}
	// The durability self-check asks the system account for the servers' settings; an
	// application account may not, and the check notes that instead (README, Running in
	// production). Any other refusal is a permission values.yaml lacks.
	for _, v := range regexp.MustCompile(`Permissions Violation for \w+ to \\"([^\\]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		if v[1] != "$SYS.REQ.SERVER.PING.VARZ" {
			t.Errorf("the worker was refused %s by the account of values.yaml", v[1])
		}
	}
	return names, public
}

// TestMetricsAndAlerts: the alert rules parse as PromQL, and every metric the alert rules
// and the dashboard name is one the binary exports (Prometheus's own `up` aside); the ops
// endpoints are not on the public listener.
func TestMetricsAndAlerts(t *testing.T) {
	t.Parallel()
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	strictFile(t, "monitoring/alerts.yaml", &rules)
	exprs := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
		}
	}
	for _, want := range []string{"alert ScaworkerDLQGrowing", "alert ScaworkerConsumerLag", "alert ScaworkerFaultPause",
		"alert ScaworkerRateBudgetExhausted", "alert ScaworkerLinksNearExpiry", "alert ScaworkerHooks503", "alert ScaworkerCertificateExpiresSoon"} {
		if exprs[want] == "" {
			t.Errorf("alerts.yaml lacks %s", want)
		}
	}
	want := map[string]bool{}
	selectors := map[string][]string{}
	for where, expr := range exprs {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: not PromQL: %v", where, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "up" {
				want[vs.Name] = true
				selectors[where] = append(selectors[where], vs.Name)
			}
			return nil
		})
	}
	names, public := exported(t, want)
	for p, code := range public {
		if code == http.StatusOK {
			t.Errorf("the public listener serves %s; with SCA_ADMIN_ADDR it must not", p)
		}
	}
	used := 0
	for where, ns := range selectors {
		for _, n := range ns {
			used++
			if !names[n] {
				t.Errorf("%s names %s, which the binary does not export", where, n)
			}
		}
	}
	if used < 15 {
		t.Errorf("found %d metric selectors, want those of every alert and panel", used)
	}
}

// natsWithValuesAccount starts a NATS server with JetStream whose account and users are
// those of deploy/nats/values.yaml (config.merge.accounts), and returns the URL of the
// scaworker user.
func natsWithValuesAccount(t *testing.T) string {
	t.Helper()
	v := values(t)
	const password = "deploy-test-password"
	accounts := map[string]any{}
	for name, a := range v.Config.Merge.Accounts {
		var users []map[string]any
		for _, u := range a.Users {
			users = append(users, map[string]any{
				"user": u.User, "password": password,
				"permissions": map[string]any{
					"publish":   map[string]any{"allow": u.Permissions.Publish.Allow},
					"subscribe": map[string]any{"allow": u.Permissions.Subscribe.Allow},
				},
			})
		}
		accounts[name] = map[string]any{"jetstream": a.JetStream, "users": users}
	}
	var conf bytes.Buffer
	enc := json.NewEncoder(&conf)
	enc.SetEscapeHTML(false) // the server's parser knows no \u escapes
	if err := enc.Encode(map[string]any{
		"listen":    "127.0.0.1:-1",
		"jetstream": map[string]any{"store_dir": t.TempDir()},
		"accounts":  accounts,
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("the account of values.yaml as a server config: %v", err)
	}
	opts.NoSigs, opts.NoLog = true, true
	s := testworld.StartServer(t, opts)
	t.Cleanup(s.Shutdown)
	return fmt.Sprintf("nats://scaworker:%s@%s", password, s.Addr().String())
}

// natsValues is the part of deploy/nats/values.yaml the tests read.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool `json:"enabled"`
			} `json:"fileStore"`
			MemoryStore struct {
				Enabled bool `json:"enabled"`
			} `json:"memoryStore"`
			Merge map[string]any `json:"merge"`
		} `json:"jetstream"`
		Merge struct {
			Accounts map[string]struct {
				JetStream string `json:"jetstream"`
				Users     []struct {
					User        string `json:"user"`
					Password    string `json:"password"`
					Permissions struct {
						Publish   struct{ Allow []string } `json:"publish"`
						Subscribe struct{ Allow []string } `json:"subscribe"`
					} `json:"permissions"`
				} `json:"users"`
			} `json:"accounts"`
		} `json:"merge"`
	} `json:"config"`
}

func values(t *testing.T) natsValues {
	t.Helper()
	var v natsValues
	b, err := os.ReadFile("nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNATSValues: three servers, JetStream on file storage, every write synced.
func TestNATSValues(t *testing.T) {
	t.Parallel()
	v := values(t).Config
	if !v.Cluster.Enabled || v.Cluster.Replicas != 3 {
		t.Errorf("cluster = %+v, want 3 replicas", v.Cluster)
	}
	if !v.JetStream.Enabled || !v.JetStream.FileStore.Enabled || v.JetStream.MemoryStore.Enabled {
		t.Errorf("jetstream = %+v, want file storage only", v.JetStream)
	}
	if v.JetStream.Merge["sync_interval"] != "always" {
		t.Errorf("jetstream sync_interval = %v, want always", v.JetStream.Merge["sync_interval"])
	}
	if len(v.Merge.Accounts["SCA"].Users) == 0 || v.Merge.Accounts["SCA"].JetStream != "enabled" {
		t.Errorf("no account SCA with JetStream and users")
	}
}
