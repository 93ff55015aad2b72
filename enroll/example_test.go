package enroll_test

import (
	"context"
	"fmt"
	"net/url"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

// ExampleClient_Enroll mints an SCA enrollment link on the simulator, then
// shows what a redelivered trigger gets: the same link, read back through
// the Idempotency-Key.
func ExampleClient_Enroll() {
	sim := mangosim.Start(mangosim.Options{})
	defer sim.Close()

	c, err := enroll.NewClient(enroll.Config{
		BaseURL:   sim.URL, // plain http is accepted on loopback only
		ClientID:  sim.ClientID(),
		APIKey:    sim.APIKey(),
		ReturnURL: "https://platform.example/sca-done",
	}, zap.NewNop())
	if err != nil {
		fmt.Println(err)
		return
	}
	req := enroll.Request{
		UserID:  mangosim.UserOwnerNatural,
		Trigger: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", // events.Trigger.Key()
		Seq:     1,
		Locale:  "sv-SE",
	}
	res, err := c.Enroll(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	link, _ := url.Parse(res.Link)
	fmt.Println("host:", link.Host)
	fmt.Println("returnUrl:", link.Query().Get("returnUrl"))
	fmt.Println("lang:", link.Query().Get("lang"))
	fmt.Println("valid for:", res.ExpiresAt.Sub(res.MintedAt))
	fmt.Println("next seq:", res.NextSeq)

	again, err := c.Enroll(context.Background(), req) // e.g. a redelivery after a crash
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("recovered:", again.Recovered, "same link:", again.Link == res.Link)

	_, err = c.Enroll(context.Background(), enroll.Request{UserID: mangosim.UserPayer, Trigger: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Seq: 1})
	fmt.Println("payer:", enroll.Reason(err), "retryable:", enroll.IsRetryable(err))
	// Output:
	// host: sca.sandbox.mangopay.com
	// returnUrl: https://platform.example/sca-done
	// lang: se
	// valid for: 10m0s
	// next seq: 1
	// recovered: true same link: true
	// payer: user_not_owner retryable: false
}
