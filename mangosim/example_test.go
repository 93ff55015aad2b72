package mangosim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/scaworker/scaworker/mangosim"
)

// ExampleStart enrolls a seeded owner the way any Mangopay client does: token call, then the
// Enroll POST with a bearer token and an Idempotency-Key, then a reuse of the key.
func ExampleStart() {
	srv := mangosim.Start(mangosim.Options{})
	defer srv.Close()
	c := srv.Client()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2.01/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.SetBasicAuth(srv.ClientID(), srv.APIKey())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	enroll := func() {
		req, _ := http.NewRequest(http.MethodPost,
			srv.URL+"/v2.01/"+srv.ClientID()+"/sca/users/"+mangosim.UserOwnerNatural+"/enrollment", nil)
		req.Header.Set("Authorization", tok.TokenType+" "+tok.AccessToken)
		req.Header.Set("Idempotency-Key", "3f1c0de2a9b84e57-1")
		resp, err := c.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		var body struct {
			PendingUserAction struct {
				RedirectURL string `json:"RedirectUrl"`
			}
			Type string
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		link, _ := url.Parse(body.PendingUserAction.RedirectURL)
		fmt.Println(resp.StatusCode, link.Host, body.Type, len(resp.Header.Values("X-RateLimit")), "windows")
	}
	enroll()
	enroll()
	fmt.Println("enrollment POSTs:", srv.Count(http.MethodPost, "/enrollment"))
	// Output:
	// 200 sca.sandbox.mangopay.com  4 windows
	// 409  idempotent_creation_conflict 4 windows
	// enrollment POSTs: 2
}
