package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

func key(seq int) string { return enroll.IdempotencyKey(testTrigger, seq) }

func req(userID string, seq int) enroll.Request {
	return enroll.Request{UserID: userID, Trigger: testTrigger, Seq: seq}
}

// sameResult compares results, times with Equal.
func sameResult(a, b enroll.Result) bool {
	return a.Link == b.Link && a.Recovered == b.Recovered && a.NextSeq == b.NextSeq && a.NotRequired == b.NotRequired &&
		a.MintedAt.Equal(b.MintedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// linkToken returns the token query value of a link.
func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("parse link: %v", err)
	}
	return u.Query().Get("token")
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	r := req(mangosim.UserOwnerNatural, 1)
	r.Locale = "fr-FR"
	res, err := b.client.Enroll(context.Background(), r)
	if err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	if !strings.HasPrefix(res.Link, "https://sca.sandbox.mangopay.com/?token=") ||
		!strings.HasSuffix(res.Link, "&returnUrl=https%3A%2F%2Fplatform.example%2Fsca-done&lang=fr") {
		t.Errorf("Enroll() link = %q, want Mangopay's link + returnUrl + lang", res.Link)
	}
	if tok := linkToken(t, res.Link); len(tok) != 32 {
		t.Errorf("link token = %q, want 32 hex", tok)
	}
	want := enroll.Result{Link: res.Link, MintedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute), NextSeq: 1}
	if !sameResult(res, want) {
		t.Errorf("Enroll() = %+v, want %+v", res, want)
	}
	if got := keysOf(b.sim); !equalStrings(got, []string{key(1)}) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, []string{key(1)})
	}
	if u, _ := b.sim.User(mangosim.UserOwnerNatural); !u.Triggered {
		t.Errorf("user not triggered after Enroll")
	}
	b.checkNoSecrets(t, nil)
}

func TestEnrollSeqZeroStartsAtOne(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 0))
	if err != nil || res.NextSeq != 1 {
		t.Fatalf("Enroll(Seq 0) = %+v, %v; want NextSeq 1", res, err)
	}
	if got := keysOf(b.sim); !equalStrings(got, []string{key(1)}) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, []string{key(1)})
	}
}

func TestEnrollPerUserErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		user       string
		wantReason string
	}{
		{mangosim.UserPayer, enroll.ReasonUserNotOwner},
		{mangosim.UserPayerLegal, enroll.ReasonUserNotOwner},
		{mangosim.UserOwnerLegalNoRep, enroll.ReasonMissingLegalRepEmail},
		{"user_m_nobody", enroll.ReasonUserNotFound},
		{mangosim.UserOwnerClosed, enroll.ReasonBadRequest},
		{mangosim.UserPlatform, enroll.ReasonBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{})
			res, err := b.client.Enroll(context.Background(), req(tt.user, 7))
			if got := enroll.Reason(err); got != tt.wantReason {
				t.Errorf("Enroll() reason = %q (err %v), want %q", got, err, tt.wantReason)
			}
			if enroll.IsRetryable(err) || enroll.IsFault(err) {
				t.Errorf("Enroll() error %v is retryable or a fault", err)
			}
			want := enroll.Result{NextSeq: 8} // the failed answer spent key 7
			if res != want {
				t.Errorf("Enroll() = %+v, want %+v", res, want)
			}
			if got := keysOf(b.sim); !equalStrings(got, []string{key(7)}) {
				t.Errorf("Idempotency-Keys = %v, want exactly one POST with %s", got, key(7))
			}
			b.checkNoSecrets(t, err)
		})
	}
}

func TestEnrollRecoversDroppedAnswer(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	b.sim.SetFaults(mangosim.Faults{DropAfterCommit: 1})
	res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 1))
	if err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	want := enroll.Result{Link: res.Link, MintedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute), Recovered: true, NextSeq: 1}
	if !sameResult(res, want) {
		t.Errorf("Enroll() = %+v, want %+v", res, want)
	}
	type step struct {
		method, path, key string
		status            int
		dropped           bool
	}
	var got []step
	for _, c := range b.sim.Calls() {
		if strings.HasSuffix(c.Path, "/oauth/token") {
			continue
		}
		got = append(got, step{c.Method, c.Path[strings.LastIndex(c.Path, "/")+1:], c.IdempotencyKey, c.Status, c.Dropped})
	}
	wantSteps := []step{
		{"POST", "enrollment", key(1), 200, true}, // executed, answer lost
		{"POST", "enrollment", key(1), 409, false},
		{"GET", key(1), "", 200, false},
	}
	if len(got) != len(wantSteps) {
		t.Fatalf("calls = %+v, want %+v", got, wantSteps)
	}
	for i := range got {
		if got[i] != wantSteps[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], wantSteps[i])
		}
	}
	stored, err := b.client.Response(context.Background(), key(1))
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if tok := linkToken(t, res.Link); !strings.Contains(string(stored.Body), "token="+tok) {
		t.Errorf("recovered link is not the one minted by the dropped call")
	}
	b.checkNoSecrets(t, nil)
}

func TestEnrollBurnedKeyAfter5xx(t *testing.T) {
	t.Parallel()
	t.Run("retried in process", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.sim.SetFaults(mangosim.Faults{Burst5xx: 1})
		res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 1))
		if err != nil {
			t.Fatalf("Enroll() error = %v", err)
		}
		if res.NextSeq != 2 || res.Recovered {
			t.Errorf("Enroll() = %+v, want NextSeq 2, not recovered", res)
		}
		if got, want := keysOf(b.sim), []string{key(1), key(2)}; !equalStrings(got, want) {
			t.Errorf("Idempotency-Keys = %v, want %v", got, want)
		}
	})
	t.Run("next call", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
		b.sim.SetFaults(mangosim.Faults{Burst5xx: 1})
		res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 1))
		if !enroll.IsRetryable(err) || enroll.Reason(err) != enroll.ReasonUnavailable {
			t.Fatalf("Enroll() error = %v, want a retryable 503", err)
		}
		if res.NextSeq != 2 || res.Link != "" {
			t.Fatalf("Enroll() = %+v, want NextSeq 2 and no link", res)
		}
		b.checkNoSecrets(t, err)
		res, err = b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, res.NextSeq))
		if err != nil || res.NextSeq != 2 || res.Recovered {
			t.Fatalf("second Enroll() = %+v, %v; want a new link with key 2", res, err)
		}
		if got, want := keysOf(b.sim), []string{key(1), key(2)}; !equalStrings(got, want) {
			t.Errorf("Idempotency-Keys = %v, want %v", got, want)
		}
	})
}

func TestEnrollRecoveredLinkFreshness(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	ctx := context.Background()
	first, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1))
	if err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	minted := clock.Now()
	steps := []struct {
		advance       time.Duration
		seq           int
		wantRecovered bool
		wantSameLink  bool // same link as the first call
		wantNextSeq   int
		wantMinted    func() time.Time
		wantKeys      []string // POSTs of this step
	}{
		{4 * time.Minute, 1, true, true, 1, func() time.Time { return minted }, []string{key(1)}},
		{time.Minute, 1, true, true, 1, func() time.Time { return minted }, []string{key(1)}},  // exactly 5 min left
		{time.Second, 1, false, false, 2, clock.Now, []string{key(1), key(2)}},                 // 4m59s left: stale, new key
		{0, 1, true, false, 2, clock.Now, []string{key(1), key(2)}},                            // key 2's fresh link
		{5*time.Minute + time.Second, 2, false, false, 3, clock.Now, []string{key(2), key(3)}}, // stale again
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		b.sim.ResetCalls()
		res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, s.seq))
		if err != nil {
			t.Fatalf("step %d: Enroll() error = %v", i, err)
		}
		if res.Recovered != s.wantRecovered || (res.Link == first.Link) != s.wantSameLink || res.NextSeq != s.wantNextSeq {
			t.Errorf("step %d: Enroll() = %+v, want recovered %v, same link %v, NextSeq %d", i, res, s.wantRecovered, s.wantSameLink, s.wantNextSeq)
		}
		if want := s.wantMinted(); !res.MintedAt.Equal(want) || !res.ExpiresAt.Equal(want.Add(10*time.Minute)) {
			t.Errorf("step %d: MintedAt, ExpiresAt = %s, %s; want %s and 10 min later", i, res.MintedAt, res.ExpiresAt, want)
		}
		if s.wantRecovered && s.wantMinted().Equal(clock.Now()) {
			t.Logf("step %d: recovered a link minted now", i)
		}
		if got := keysOf(b.sim); !equalStrings(got, s.wantKeys) {
			t.Errorf("step %d: Idempotency-Keys = %v, want %v", i, got, s.wantKeys)
		}
	}
	b.checkNoSecrets(t, nil)
}

func TestEnrollStoredFailureSpendsKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	res, err := b.client.Enroll(ctx, req(mangosim.UserPayer, 1))
	if enroll.Reason(err) != enroll.ReasonUserNotOwner || res.NextSeq != 2 {
		t.Fatalf("Enroll() = %+v, %v; want user_not_owner, NextSeq 2", res, err)
	}
	b.checkNoSecrets(t, err)
	// A stale ledger asks again from key 1: its stored failure spends it.
	res, err = b.client.Enroll(ctx, req(mangosim.UserPayer, 1))
	if enroll.Reason(err) != enroll.ReasonUserNotOwner || res.NextSeq != 3 {
		t.Errorf("Enroll() again = %+v, %v; want user_not_owner, NextSeq 3", res, err)
	}
	if got, want := keysOf(b.sim), []string{key(1), key(1), key(2)}; !equalStrings(got, want) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, want)
	}
	if got := b.sim.Count(http.MethodGet, "/responses/"+key(1)); got != 1 {
		t.Errorf("GET /responses/%s calls = %d, want 1", key(1), got)
	}
	b.checkNoSecrets(t, err)
}

func TestEnrollTransportErrorKeepsKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
	b.sim.SetFaults(mangosim.Faults{DropAfterCommit: 1})
	ctx := context.Background()
	res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 3))
	if !enroll.IsRetryable(err) || res.NextSeq != 3 || res.Link != "" {
		t.Fatalf("Enroll() = %+v, %v; want a retryable error and NextSeq 3", res, err)
	}
	b.checkNoSecrets(t, err)
	res, err = b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, res.NextSeq))
	if err != nil || !res.Recovered || res.NextSeq != 3 {
		t.Fatalf("Enroll() after the drop = %+v, %v; want the recovered link", res, err)
	}
	if got, want := keysOf(b.sim), []string{key(3), key(3)}; !equalStrings(got, want) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, want)
	}
}

func TestEnroll401SpendsKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() error = %v", err)
	}
	b.sim.SetFaults(mangosim.Faults{RevokeTokens: true})
	res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1))
	if err != nil || res.NextSeq != 2 {
		t.Fatalf("Enroll() = %+v, %v; want a link with NextSeq 2", res, err)
	}
	if got, want := keysOf(b.sim), []string{key(1), key(2)}; !equalStrings(got, want) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, want)
	}
}

func TestEnrollLinkRejected(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.sim.SetFaults(mangosim.Faults{WrongHost: true})
	res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 1))
	if got := enroll.Reason(err); got != enroll.ReasonLinkRejected {
		t.Errorf("Reason() = %q (err %v), want link_rejected", got, err)
	}
	var le *enroll.LinkError
	if !errors.As(err, &le) {
		t.Errorf("error %v does not wrap *LinkError", err)
	}
	if enroll.IsRetryable(err) || enroll.IsFault(err) {
		t.Errorf("error %v is retryable or a fault", err)
	}
	if want := (enroll.Result{NextSeq: 2}); res != want {
		t.Errorf("Enroll() = %+v, want %+v", res, want)
	}
	if len(b.tap.secrets()) == 0 {
		t.Fatal("no link token recorded")
	}
	if strings.Contains(err.Error(), "token=") {
		t.Errorf("error %q carries the query", err)
	}
	b.checkNoSecrets(t, err)
}

// TestEnrollConflictNeverStored: a key that answers 409 while its first
// answer stays unreadable (404) is read a few times, then spent; every
// following key fares the same here, so the attempt ends retryable with
// every key it walked through spent.
func TestEnrollConflictNeverStored(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusConflict, `{"Message":"A resource has already been created with this Idempotency Key","Type":"idempotent_creation_conflict"}`)
			return
		}
		writeJSON(w, http.StatusNotFound, `{"Message":"The ressource does not exist","Type":"ressource_not_found"}`)
	})
	b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
	res, err := b.client.Enroll(context.Background(), req("user_m_1", 5))
	if !enroll.IsRetryable(err) || enroll.Reason(err) != enroll.ReasonUnavailable {
		t.Errorf("Enroll() error = %v, want retryable unavailable", err)
	}
	const keys = 8 // one attempt walks at most 8 spent keys
	if res.NextSeq != 5+keys {
		t.Errorf("NextSeq = %d, want %d (each unreadable key spent)", res.NextSeq, 5+keys)
	}
	if got := f.calls.Load(); got != keys*(1+3) {
		t.Errorf("API calls = %d, want %d (per key: a POST and 3 reads)", got, keys*(1+3))
	}
	var want []string
	for seq := 5; seq < 5+keys; seq++ {
		want = append(want, key(seq))
	}
	if got := f.keys(); !equalStrings(got, want) {
		t.Errorf("Idempotency-Keys = %v, want %v", got, want)
	}
	b.checkNoSecrets(t, err)
}

// TestEnrollStoredShapes: a POST is executed but its answer lost (the
// worker died mid-call); the resent POST gets 409 and the stored record
// reads back in each shape seen after such crashes. An intact record, or
// one that shows up after a few 404s, gives its link; any other shape
// spends the key and the next one mints a new link — never an endless
// retry.
func TestEnrollStoredShapes(t *testing.T) {
	t.Parallel()
	for _, shape := range append([]mangosim.StoredShape{mangosim.StoredIntact}, mangosim.StoredShapes()...) {
		t.Run(shape.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
			b.sim.SetFaults(mangosim.Faults{DropAfterCommit: 1, StoredShapes: []mangosim.StoredShape{shape}})
			ctx := context.Background()
			res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1))
			if !enroll.IsRetryable(err) || res.NextSeq != 1 {
				t.Fatalf("Enroll() = %+v, %v; want the dropped answer: retryable, NextSeq 1", res, err)
			}
			res, err = b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, res.NextSeq))
			if err != nil || res.Link == "" {
				t.Fatalf("Enroll() after the crash = %+v, %v; want a link", res, err)
			}
			reads := b.sim.Count(http.MethodGet, "/responses/"+key(1))
			usable := shape == mangosim.StoredIntact || shape == mangosim.StoredInFlight
			wantKeys, wantReads := []string{key(1), key(1), key(2)}, 1
			switch shape {
			case mangosim.StoredIntact:
				wantKeys = wantKeys[:2]
			case mangosim.StoredInFlight:
				wantKeys, wantReads = wantKeys[:2], mangosim.InFlightReads+1
			case mangosim.StoredLost:
				wantReads = 3
			}
			if res.Recovered != usable || (res.NextSeq == 1) != usable {
				t.Errorf("Enroll() = %+v; want recovered %v", res, usable)
			}
			if got := keysOf(b.sim); !equalStrings(got, wantKeys) {
				t.Errorf("Idempotency-Keys = %v, want %v", got, wantKeys)
			}
			if reads != wantReads {
				t.Errorf("GET /responses/%s calls = %d, want %d", key(1), reads, wantReads)
			}
			b.checkNoSecrets(t, err)
		})
	}
}

// storedAPI answers POST with 409 and GET /responses with the record
// given, the way Mangopay would after a crash mid-call.
func storedAPI(record string) *fakeAPI {
	return newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusConflict, `{"Message":"A resource has already been created with this Idempotency Key","Type":"idempotent_creation_conflict"}`)
			return
		}
		writeJSON(w, http.StatusOK, record)
	})
}

// TestEnrollStoredRecords: stored records the simulator does not make.
// Each unusable one spends the key (the fake answers 409 to every key, so
// the attempt walks on and ends retryable, with NextSeq past the key).
func TestEnrollStoredRecords(t *testing.T) {
	t.Parallel()
	date := `"` + time.Now().UTC().Format(http.TimeFormat) + `"`
	link := `{"PendingUserAction":{"RedirectUrl":"https://sca.sandbox.mangopay.com/?token=0193cf51ed367151a0cb1c59def21e13"}}`
	for _, tt := range []struct {
		name, record string
		wantLink     bool
	}{
		{"intact", `{"StatusCode":"200","Date":` + date + `,"Resource":` + link + `}`, true},
		{"numeric status", `{"StatusCode":200,"Date":` + date + `,"Resource":` + link + `}`, true},
		{"status with spaces", `{"StatusCode":" 200 ","Date":` + date + `,"Resource":` + link + `}`, true},
		{"status 0 as a number", `{"StatusCode":0,"Date":` + date + `,"Resource":` + link + `}`, false},
		{"status null", `{"StatusCode":null,"Date":` + date + `,"Resource":` + link + `}`, false},
		{"status 200.5", `{"StatusCode":"200.5","Date":` + date + `,"Resource":` + link + `}`, false},
		{"status 2000", `{"StatusCode":"2000","Date":` + date + `,"Resource":` + link + `}`, false},
		{"resource is a string", `{"StatusCode":"200","Date":` + date + `,"Resource":"<html>"}`, false},
		{"resource is an array", `{"StatusCode":"200","Date":` + date + `,"Resource":[]}`, false},
		{"PendingUserAction not an object", `{"StatusCode":"200","Date":` + date + `,"Resource":{"PendingUserAction":"x"}}`, false},
		{"link without Date", `{"StatusCode":"200","Resource":` + link + `}`, false},
		{"empty record", `{}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := storedAPI(tt.record)
			b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
			res, err := b.client.Enroll(context.Background(), req("user_m_1", 3))
			if tt.wantLink {
				if err != nil || !res.Recovered || res.NextSeq != 3 {
					t.Errorf("Enroll() = %+v, %v; want the recovered link under key 3", res, err)
				}
				return
			}
			if !enroll.IsRetryable(err) || res.NextSeq != 3+8 || res.Link != "" {
				t.Errorf("Enroll() = %+v, %v; want every key spent (NextSeq 11), retryable", res, err)
			}
			if got := f.calls.Load(); got != 16 {
				t.Errorf("API calls = %d, want 16 (a POST and one read per key)", got)
			}
			b.checkNoSecrets(t, err)
		})
	}
}

// TestEnrollStoredAnswerWithoutLink: a valid stored Enroll answer without
// a RedirectUrl ends like a fresh 200 without one; it is not a damaged
// record (that would spend the key and mint a session the user does not
// need).
func TestEnrollStoredAnswerWithoutLink(t *testing.T) {
	t.Parallel()
	date := `"` + time.Now().UTC().Format(http.TimeFormat) + `"`
	for _, body := range []string{`{"PendingUserAction":null}`, `{}`, `{"PendingUserAction":{"RedirectUrl":""}}`, `{"PendingUserAction":{}}`} {
		fresh := newFakeAPI(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, body) })
		bf := setup(t, setupOpts{handler: fresh})
		wantRes, wantErr := bf.client.Enroll(context.Background(), req("user_m_1", 3))

		f := storedAPI(`{"StatusCode":"200","Date":` + date + `,"Resource":` + body + `}`)
		b := setup(t, setupOpts{handler: f})
		res, err := b.client.Enroll(context.Background(), req("user_m_1", 3))
		if enroll.Reason(err) != enroll.Reason(wantErr) || res.Link != wantRes.Link || res.NextSeq != wantRes.NextSeq {
			t.Errorf("stored %s: Enroll() = %+v, %v; want as a fresh 200: %+v, %v", body, res, err, wantRes, wantErr)
		}
		if got := f.calls.Load(); got != 2 {
			t.Errorf("stored %s: API calls = %d, want 2 (one POST, one read: the key is not spent)", body, got)
		}
	}
}

func TestEnrollRejectsBadTrigger(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for _, trig := range []string{"", "abc", "0f3a5c7e9b1d/f4a6c8e0b2d4f6a8c0e", "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0_"} {
		res, err := b.client.Enroll(context.Background(), enroll.Request{UserID: mangosim.UserOwnerNatural, Trigger: trig, Seq: 2})
		if enroll.Reason(err) != enroll.ReasonBadRequest || enroll.IsRetryable(err) || res.NextSeq != 2 {
			t.Errorf("Enroll(trigger %q) = %+v, %v; want bad_request, NextSeq 2", trig, res, err)
		}
		b.checkNoSecrets(t, err)
	}
	if got := len(b.sim.Calls()); got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}
}

func TestSCAStatus(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	ctx := context.Background()
	tests := []struct {
		user string
		want enroll.SCAStatus
	}{
		{mangosim.UserOwnerNatural2, enroll.SCAStatus{}},
		{"user_m_nobody", enroll.SCAStatus{}},
		{mangosim.UserOwnerTriggered, enroll.SCAStatus{Triggered: true, UserStatus: "ACTIVE"}},
		{mangosim.UserOwnerEnrolled, enroll.SCAStatus{Triggered: true, UserStatus: "ACTIVE", IsEnrolled: true, LastEnrollmentDate: clock.Now().UTC()}},
	}
	for _, tt := range tests {
		got, err := b.client.SCAStatus(ctx, tt.user)
		if err != nil {
			t.Errorf("SCAStatus(%s) error = %v", tt.user, err)
			continue
		}
		if *got != tt.want {
			t.Errorf("SCAStatus(%s) = %+v, want %+v", tt.user, *got, tt.want)
		}
		if got.Enrolled() != (tt.want.IsEnrolled && tt.want.UserStatus == "ACTIVE") {
			t.Errorf("SCAStatus(%s).Enrolled() = %v", tt.user, got.Enrolled())
		}
	}
	if got := b.sim.Count(http.MethodGet, "/sca-status"); got != len(tests) {
		t.Errorf("sca-status calls = %d, want %d (404 is not retried)", got, len(tests))
	}
	if _, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1)); err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	got, err := b.client.SCAStatus(ctx, mangosim.UserOwnerNatural)
	if err != nil || !got.Triggered || got.Enrolled() {
		t.Errorf("SCAStatus() after Enroll = %+v, %v; want triggered, not enrolled", got, err)
	}
	b.sim.CompleteEnrollment(mangosim.UserOwnerNatural)
	got, err = b.client.SCAStatus(ctx, mangosim.UserOwnerNatural)
	if err != nil || !got.Enrolled() {
		t.Errorf("SCAStatus() after the session = %+v, %v; want enrolled", got, err)
	}
}

func TestSCAStatusEnrolled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    enroll.SCAStatus
		want bool
	}{
		{enroll.SCAStatus{Triggered: true, IsEnrolled: true, UserStatus: "ACTIVE"}, true},
		{enroll.SCAStatus{Triggered: true, IsEnrolled: true, UserStatus: "PENDING_USER_ACTION"}, false},
		{enroll.SCAStatus{Triggered: true, IsEnrolled: false, UserStatus: "ACTIVE"}, false},
		{enroll.SCAStatus{}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Enrolled(); got != tt.want {
			t.Errorf("%+v.Enrolled() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestEnrollSCANotRequired: a 200 without PendingUserAction.RedirectUrl
// (Sandbox's bypass for e-mails containing "accept", or Production if it
// ever answers so) is Result.NotRequired: no link, no error, key kept.
func TestEnrollSCANotRequired(t *testing.T) {
	t.Parallel()
	for _, user := range []string{mangosim.UserOwnerAccept, mangosim.UserOwnerLegalAccept} {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			b := setup(t, setupOpts{clock: clock})
			res, err := b.client.Enroll(context.Background(), req(user, 4))
			if err != nil {
				t.Fatalf("Enroll() error = %v, want nil", err)
			}
			want := enroll.Result{NotRequired: true, MintedAt: clock.Now(), NextSeq: 4}
			if !sameResult(res, want) {
				t.Errorf("Enroll() = %+v, want %+v", res, want)
			}
			if got := keysOf(b.sim); !equalStrings(got, []string{key(4)}) {
				t.Errorf("Idempotency-Keys = %v, want exactly one POST with %s", got, key(4))
			}
		})
	}
	t.Run("read back after a 409", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		b := setup(t, setupOpts{clock: clock, cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
		b.sim.SetFaults(mangosim.Faults{DropAfterCommit: 1})
		ctx := context.Background()
		res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerAccept, 1))
		if !enroll.IsRetryable(err) || res.NextSeq != 1 {
			t.Fatalf("Enroll() = %+v, %v; want a retryable error and NextSeq 1", res, err)
		}
		minted := clock.Now()
		clock.Advance(20 * time.Minute) // a link would be dead; "not required" still holds
		res, err = b.client.Enroll(ctx, req(mangosim.UserOwnerAccept, res.NextSeq))
		if err != nil {
			t.Fatalf("Enroll() after the drop error = %v, want nil", err)
		}
		want := enroll.Result{NotRequired: true, Recovered: true, MintedAt: minted, NextSeq: 1}
		if !sameResult(res, want) {
			t.Errorf("Enroll() after the drop = %+v, want %+v", res, want)
		}
		if got := keysOf(b.sim); !equalStrings(got, []string{key(1), key(1)}) {
			t.Errorf("Idempotency-Keys = %v, want the dropped POST and its 409", got)
		}
	})
	for _, body := range []string{`{"PendingUserAction":null}`, `{}`, `{"PendingUserAction":{"RedirectUrl":""}}`, `{"PendingUserAction":{}}`} {
		t.Run("production answers "+body, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, body) })
			b := setup(t, setupOpts{handler: api})
			res, err := b.client.Enroll(context.Background(), req("user_m_prod", 1))
			if err != nil || !res.NotRequired || res.Link != "" || !res.ExpiresAt.IsZero() || res.NextSeq != 1 {
				t.Errorf("Enroll() = %+v, %v; want NotRequired without a link or an error", res, err)
			}
			if n := api.calls.Load(); n != 1 {
				t.Errorf("API calls = %d, want 1", n)
			}
		})
	}
}
