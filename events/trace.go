package events

import "encoding/json"

// Trace is the W3C Trace Context of an event, carried by the CloudEvents distributed
// tracing extension: the attributes traceparent and tracestate
// (https://www.w3.org/TR/trace-context/). scaworker copies a trigger's Trace unchanged to
// its send-link event and its dead-letter record, and logs it. The zero value means none.
type Trace struct {
	// Parent is the traceparent attribute, "00-<32 hex>-<16 hex>-<2 hex>"; "" when absent
	// or malformed.
	Parent string
	// State is the tracestate attribute; kept only with a valid Parent, and only when it is
	// at most 512 printable ASCII characters.
	State string
}

// maxTraceState is the longest tracestate kept (the W3C limit).
const maxTraceState = 512

// ValidTraceParent reports whether s is a W3C traceparent this project accepts: version
// 00, a 32-hex-digit trace id and a 16-hex-digit parent id that are not all zeros, and
// 2 hex digits of flags, all lowercase. Its schema is the traceparent pattern of
// docs/schemas.
func ValidTraceParent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	return lowerHex(s[3:35]) && lowerHex(s[36:52]) && lowerHex(s[53:55]) &&
		s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// traceOf reads the tracing attributes of an event. A malformed traceparent is ignored,
// never an error: a tracing header must not stop a link.
func traceOf(parent, state json.RawMessage) Trace {
	if isNull(parent) {
		return Trace{}
	}
	p, err := stringValue(parent, "traceparent")
	if err != nil || !ValidTraceParent(p) {
		return Trace{}
	}
	if !isNull(state) {
		if st, err := stringValue(state, "tracestate"); err == nil && len(st) <= maxTraceState && printableASCII(st) {
			return Trace{Parent: p, State: st}
		}
	}
	return Trace{Parent: p}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// SchemaBase is where the JSON Schemas of the events live (docs/schemas in the
// repository); [SchemaURI] appends a type's file name.
const SchemaBase = "https://raw.githubusercontent.com/scaworker/scaworker/main/docs/schemas/"

// SchemaURI returns the URI of the JSON Schema of events of type typ, which scaworker
// writes as the dataschema attribute of the events it publishes and which is the schema's
// $id: [SchemaBase] + typ + ".json".
func SchemaURI(typ string) string {
	return SchemaBase + typ + ".json"
}
