// Package deploy holds no code: its tests keep the files of deploy/ honest (manifests
// decode into the Kubernetes API types, set only scaworker settings, probe the right
// paths and ports, the dashboards and alerts name only exported metrics in valid PromQL,
// and the JetStream definitions are what scaworker provisions).
package deploy
