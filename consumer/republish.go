package consumer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// CloudEvents extension attributes of the triggers the operator tools
// republish under a new id (the body's record of its lineage; the
// headers above are what the worker reads).
const (
	// ExtReplayOf carries the original id in a forced replay's body.
	ExtReplayOf = "screplayof"
	// ExtRedriveOf carries the root id in a redrive's body.
	ExtRedriveOf = "scaredriveof"
)

// RepublishHeader returns the headers of a stored trigger for a copy the
// operator tools republish: all of h but JetStream's own (Nats-*: message
// id, expectations) and the replay and redrive headers, which the
// republisher sets itself for the copy it makes.
func RepublishHeader(h map[string][]string) nats.Header {
	out := nats.Header{}
	for k, vs := range h {
		switch {
		case len(k) >= 5 && strings.EqualFold(k[:5], "Nats-"),
			strings.EqualFold(k, HeaderReplay), strings.EqualFold(k, HeaderReplayOf),
			strings.EqualFold(k, HeaderRedriveOf), strings.EqualFold(k, HeaderRedriveCount):
			continue
		}
		out[k] = slices.Clone(vs)
	}
	return out
}

// RewriteID returns a CloudEvent body (a JSON object) with its id set to
// newID and the extension attribute ext ([ExtReplayOf], [ExtRedriveOf])
// set to of; every other member is kept as it is.
func RewriteID(body []byte, newID, ext, of string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("rewrite id: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("rewrite id: the body is not a JSON object")
	}
	for k, v := range map[string]string{"id": newID, ext: of} {
		b, err := marshal(v)
		if err != nil {
			return nil, fmt.Errorf("rewrite id: %w", err)
		}
		m[k] = b
	}
	out, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rewrite id: %w", err)
	}
	return out, nil
}

// marshal encodes v as JSON without HTML escaping and without the
// trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
