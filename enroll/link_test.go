package enroll

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// testToken is a recognisable token: no error text may ever contain it.
const testToken = "5ec12e7deadbeef0badc0ffee0ddf00d"

const testReturnURL = "https://platform.example/sca/done?step=2"

func newTestLinkBuilder(t testing.TB) *LinkBuilder {
	t.Helper()
	b, err := NewLinkBuilder(nil, testReturnURL)
	if err != nil {
		t.Fatalf("NewLinkBuilder(nil, %q) error = %v", testReturnURL, err)
	}
	return b
}

func TestLinkConstants(t *testing.T) {
	t.Parallel()
	if LinkTTL.Minutes() != 10 {
		t.Errorf("LinkTTL = %v, want 10m", LinkTTL)
	}
	if MaxLinkLen != 2000 {
		t.Errorf("MaxLinkLen = %d, want 2000", MaxLinkLen)
	}
	got := DefaultLinkHosts()
	if len(got) != 2 || got[0] != "sca.mangopay.com" || got[1] != "sca.sandbox.mangopay.com" {
		t.Errorf("DefaultLinkHosts() = %q, want [sca.mangopay.com sca.sandbox.mangopay.com]", got)
	}
	got[0] = "mutated"
	if again := DefaultLinkHosts(); again[0] != "sca.mangopay.com" {
		t.Errorf("DefaultLinkHosts() after mutating a result = %q, want a fresh slice", again)
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	b := newTestLinkBuilder(t)
	esc := url.QueryEscape(testReturnURL)
	tests := []struct {
		name, redirect, locale, want string
	}{
		{"sandbox with slash", "https://sca.sandbox.mangopay.com/?token=" + testToken, "",
			"https://sca.sandbox.mangopay.com/?token=" + testToken + "&returnUrl=" + esc},
		{"production without slash", "https://sca.mangopay.com?token=" + testToken, "fr",
			"https://sca.mangopay.com?token=" + testToken + "&returnUrl=" + esc + "&lang=fr"},
		{"no query", "https://sca.mangopay.com/session/" + testToken, "en",
			"https://sca.mangopay.com/session/" + testToken + "?returnUrl=" + esc + "&lang=en"},
		{"no path, no query", "https://sca.mangopay.com", "",
			"https://sca.mangopay.com?returnUrl=" + esc},
		{"ends with ?", "https://sca.mangopay.com/?", "",
			"https://sca.mangopay.com/?returnUrl=" + esc},
		{"query is a lone ?", "https://sca.mangopay.com/??", "",
			"https://sca.mangopay.com/??&returnUrl=" + esc},
		{"ends with &", "https://sca.mangopay.com/?token=" + testToken + "&", "",
			"https://sca.mangopay.com/?token=" + testToken + "&returnUrl=" + esc},
		{"host case kept byte for byte", "HTTPS://SCA.Sandbox.MangoPay.com/?token=" + testToken, "sv-SE",
			"HTTPS://SCA.Sandbox.MangoPay.com/?token=" + testToken + "&returnUrl=" + esc + "&lang=se"},
		{"sca_ token and extra params kept", "https://sca.mangopay.com/?token=sca_" + testToken + "&x=%2F+y", "pt_BR",
			"https://sca.mangopay.com/?token=sca_" + testToken + "&x=%2F+y&returnUrl=" + esc + "&lang=pt"},
		{"unknown locale: no lang", "https://sca.mangopay.com/?token=" + testToken, "ja-JP",
			"https://sca.mangopay.com/?token=" + testToken + "&returnUrl=" + esc},
		{"lang already present", "https://sca.mangopay.com/?token=" + testToken + "&lang=de", "fr",
			"https://sca.mangopay.com/?token=" + testToken + "&lang=de&returnUrl=" + esc},
	}
	for _, tt := range tests {
		got, err := b.Build(tt.redirect, tt.locale)
		if err != nil {
			t.Errorf("%s: Build(%q, %q) error = %v, want nil", tt.name, tt.redirect, tt.locale, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: Build(%q, %q) = %q, want %q", tt.name, tt.redirect, tt.locale, got, tt.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%s: result does not parse: %v", tt.name, err)
			continue
		}
		if rs := u.Query()["returnUrl"]; len(rs) != 1 || rs[0] != testReturnURL {
			t.Errorf("%s: result returnUrl = %q, want [%q]", tt.name, rs, testReturnURL)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	b := newTestLinkBuilder(t)
	esc := url.QueryEscape(testReturnURL)
	q := "/?token=" + testToken
	tests := []struct {
		name, redirect string
	}{
		{"empty", ""},
		{"http", "http://sca.mangopay.com" + q},
		{"no scheme", "sca.mangopay.com" + q},
		{"scheme-relative", "//sca.mangopay.com" + q},
		{"other scheme", "javascript://sca.mangopay.com" + q},
		{"single slash", "https:/sca.mangopay.com" + q},
		{"opaque", "https:sca.mangopay.com" + q},
		{"triple slash", "https:///sca.mangopay.com" + q},
		{"unknown host", "https://evil.example" + q},
		{"suffix trick", "https://sca.mangopay.com.evil.example" + q},
		{"prefix trick", "https://evilsca.mangopay.com" + q},
		{"subdomain", "https://x.sca.mangopay.com" + q},
		{"parent domain", "https://mangopay.com" + q},
		{"trailing dot", "https://sca.mangopay.com." + q},
		{"user info", "https://sca.mangopay.com@evil.example" + q},
		{"user info with allowed host", "https://evil.example@sca.mangopay.com" + q},
		{"user and password", "https://" + testToken + ":pw@sca.mangopay.com" + q},
		{"port", "https://sca.mangopay.com:443" + q},
		{"empty port", "https://sca.mangopay.com:" + q},
		{"host in query only", "https://evil.example/?x=sca.mangopay.com&token=" + testToken},
		{"host in path only", "https://evil.example/sca.mangopay.com?token=" + testToken},
		{"backslash", "https://evil.example\\@sca.mangopay.com" + q},
		{"backslash path", "https://sca.mangopay.com\\" + q},
		{"space", "https://sca.mangopay.com" + q + " x"},
		{"leading space", " https://sca.mangopay.com" + q},
		{"tab in host", "https://sca.mangopay\t.com" + q},
		{"newline", "https://sca.mangopay.com" + q + "\n"},
		{"nul", "https://sca.mangopay.com\x00.evil" + q},
		{"DEL", "https://sca.mangopay.com" + q + "\x7f"},
		{"percent-encoded host", "https://sca%2emangopay.com" + q},
		{"percent-encoded host fully", "https://%73%63%61.mangopay.com" + q},
		{"IDN lookalike (Cyrillic a)", "https://sc\u0430.mangopay.com" + q},
		{"fullwidth dot", "https://sca\uff0emangopay.com" + q},
		{"punycode lookalike", "https://xn--sc-8sb.mangopay.com" + q},
		{"IP literal", "https://127.0.0.1" + q},
		{"IPv6 literal", "https://[::1]" + q},
		{"fragment", "https://sca.mangopay.com" + q + "#frag"},
		{"empty fragment", "https://sca.mangopay.com" + q + "#"},
		{"fragment before query", "https://sca.mangopay.com/#?token=" + testToken},
		{"quote", "https://sca.mangopay.com" + q + "\"onmouseover=x"},
		{"angle bracket", "https://sca.mangopay.com" + q + "<script>"},
		{"bad escape", "https://sca.mangopay.com/%zz" + q},
		{"returnUrl already present", "https://sca.mangopay.com" + q + "&returnUrl=https%3A%2F%2Fevil.example"},
		{"ReturnUrl already present", "https://sca.mangopay.com" + q + "&ReturnUrl=https%3A%2F%2Fevil.example"},
		{"escaped returnUrl key", "https://sca.mangopay.com" + q + "&return%55rl=https%3A%2F%2Fevil.example"},
		{"returnUrl after semicolon", "https://sca.mangopay.com" + q + ";returnUrl=https%3A%2F%2Fevil.example"},
		{"returnUrl without value", "https://sca.mangopay.com/?returnUrl&token=" + testToken},
		{"too long", "https://sca.mangopay.com" + q + "&pad=" + strings.Repeat("a", MaxLinkLen)},
		{"too long with returnUrl", "https://sca.mangopay.com" + q + "&pad=" +
			strings.Repeat("a", MaxLinkLen-len("https://sca.mangopay.com"+q+"&pad=&returnUrl=")-len(esc))},
	}
	for _, tt := range tests {
		got, err := b.Build(tt.redirect, "fr")
		if err == nil {
			t.Errorf("%s: Build(%q) = %q, nil; want an error", tt.name, tt.redirect, got)
			continue
		}
		if got != "" {
			t.Errorf("%s: Build(%q) = %q with an error, want \"\"", tt.name, tt.redirect, got)
		}
		var le *LinkError
		if !errors.As(err, &le) {
			t.Errorf("%s: Build() error = %T %v, want *LinkError", tt.name, err, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, testToken) || strings.Contains(msg, "token=") ||
			!strings.HasPrefix(msg, "link rejected: ") {
			t.Errorf("%s: Build() error = %q, want \"link rejected: …\" without the token or query", tt.name, msg)
		}
	}
}

func TestBuildLengthLimit(t *testing.T) {
	t.Parallel()
	b := newTestLinkBuilder(t)
	esc := url.QueryEscape(testReturnURL)
	base := "https://sca.mangopay.com/?token=" + testToken + "&pad="
	fixed := len(base) + len("&returnUrl=") + len(esc) + len("&lang=fr")
	fits := base + strings.Repeat("a", MaxLinkLen-1-fixed)
	got, err := b.Build(fits, "fr")
	if err != nil {
		t.Fatalf("Build(link of %d bytes once finished) error = %v, want nil", MaxLinkLen-1, err)
	}
	if len(got) != MaxLinkLen-1 {
		t.Errorf("len(Build()) = %d, want %d", len(got), MaxLinkLen-1)
	}
	if _, err := b.Build(fits+"a", "fr"); err == nil {
		t.Errorf("Build(link of %d bytes once finished) error = nil, want one", MaxLinkLen)
	}
	// Without "&lang=fr" the same input is 8 bytes shorter and fits.
	if _, err := b.Build(fits+"a", ""); err != nil {
		t.Errorf("Build(link without lang) error = %v, want nil", err)
	}
}

func TestBuildErrorNamesPlainHostOnly(t *testing.T) {
	t.Parallel()
	b := newTestLinkBuilder(t)
	tests := []struct {
		redirect, want, notWant string
	}{
		{"https://sca.mangopay.com.evil.example/?token=" + testToken, "sca.mangopay.com.evil.example", ""},
		{"https://EVIL.example/?token=" + testToken, "host evil.example is not", ""},
		// A forged link repeating its token as host: the host is not named.
		{"https://" + testToken + "/?token=" + testToken, "host is not", testToken},
		{"https://" + testToken + "/?token=%35ec12e7deadbeef0badc0ffee0ddf00d", "host is not", testToken},
		{"https://" + testToken + ".evil/" + testToken, "host is not", testToken},
	}
	for _, tt := range tests {
		_, err := b.Build(tt.redirect, "")
		if err == nil {
			t.Errorf("Build(%q) error = nil, want one", tt.redirect)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Build(%q) error = %q, want it to contain %q", tt.redirect, err, tt.want)
		}
		if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
			t.Errorf("Build(%q) error = %q, want it without %q", tt.redirect, err, tt.notWant)
		}
	}
}

func TestBuildCustomHosts(t *testing.T) {
	t.Parallel()
	b, err := NewLinkBuilder([]string{" SCA.Example.COM "}, testReturnURL)
	if err != nil {
		t.Fatalf("NewLinkBuilder() error = %v", err)
	}
	if _, err := b.Build("https://sca.example.com/?token="+testToken, ""); err != nil {
		t.Errorf("Build(custom host) error = %v, want nil", err)
	}
	if _, err := b.Build("https://sca.mangopay.com/?token="+testToken, ""); err == nil {
		t.Errorf("Build(default host not configured) error = nil, want one")
	}
}

func TestNewLinkBuilderRejects(t *testing.T) {
	t.Parallel()
	tooLong := "https://platform.example/?x=" + strings.Repeat("a", MaxLinkLen)
	tests := []struct {
		name    string
		hosts   []string
		ret     string
		setting string
	}{
		{"empty return", nil, "", "SCA_RETURN_URL"},
		{"relative return", nil, "/done", "SCA_RETURN_URL"},
		{"http return", nil, "http://platform.example/done", "SCA_RETURN_URL"},
		{"no host", nil, "https:///done", "SCA_RETURN_URL"},
		{"opaque", nil, "https:platform.example", "SCA_RETURN_URL"},
		{"fragment", nil, "https://platform.example/done#x", "SCA_RETURN_URL"},
		{"user info", nil, "https://u:p@platform.example/done", "SCA_RETURN_URL"},
		{"space", nil, "https://platform.example/do ne", "SCA_RETURN_URL"},
		{"control", nil, "https://platform.example/done\n", "SCA_RETURN_URL"},
		{"port only", nil, "https://:443/done", "SCA_RETURN_URL"},
		{"too long", nil, tooLong, "SCA_RETURN_URL"},
		{"empty host", []string{""}, testReturnURL, "SCA_LINK_HOSTS"},
		{"blank host", []string{"sca.mangopay.com", " "}, testReturnURL, "SCA_LINK_HOSTS"},
		{"scheme in host", []string{"https://sca.mangopay.com"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"port in host", []string{"sca.mangopay.com:443"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"path in host", []string{"sca.mangopay.com/x"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"trailing dot", []string{"sca.mangopay.com."}, testReturnURL, "SCA_LINK_HOSTS"},
		{"wildcard", []string{"*.mangopay.com"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"non-ASCII", []string{"sc\u0430.mangopay.com"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"leading hyphen", []string{"-sca.mangopay.com"}, testReturnURL, "SCA_LINK_HOSTS"},
		{"long label", []string{strings.Repeat("a", 64) + ".com"}, testReturnURL, "SCA_LINK_HOSTS"},
	}
	for _, tt := range tests {
		b, err := NewLinkBuilder(tt.hosts, tt.ret)
		if err == nil {
			t.Errorf("%s: NewLinkBuilder(%q, %q) = %v, nil; want an error", tt.name, tt.hosts, tt.ret, b)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.setting+": ") {
			t.Errorf("%s: NewLinkBuilder() error = %q, want it to start with %q", tt.name, err, tt.setting+": ")
		}
	}
}

func TestNewLinkBuilderLongestReturnURL(t *testing.T) {
	t.Parallel()
	// The longest return URL accepted leaves room for exactly the shortest plausible link.
	shortest := len("https://sca.mangopay.com/?token=" + testToken + "&returnUrl=" + "&lang=xx")
	prefix := "https://platform.example/?x="
	ok := prefix + strings.Repeat("a", MaxLinkLen-1-shortest-len(url.QueryEscape(prefix)))
	b, err := NewLinkBuilder(nil, ok)
	if err != nil {
		t.Fatalf("NewLinkBuilder(return URL of %d bytes) error = %v, want nil", len(ok), err)
	}
	link, err := b.Build("https://sca.mangopay.com/?token="+testToken, "fr")
	if err != nil || len(link) != MaxLinkLen-1 {
		t.Errorf("Build() = %d bytes, %v; want %d bytes, nil", len(link), err, MaxLinkLen-1)
	}
	if _, err := NewLinkBuilder(nil, ok+"a"); err == nil {
		t.Errorf("NewLinkBuilder(return URL of %d bytes) error = nil, want SCA_RETURN_URL too long", len(ok)+1)
	}
}

func TestLangFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		locale, want string
		ok           bool
	}{
		{"bg", "bg", true}, {"nl", "nl", true}, {"en", "en", true}, {"fr", "fr", true},
		{"de", "de", true}, {"el", "el", true}, {"it", "it", true}, {"pl", "pl", true},
		{"pt", "pt", true}, {"es", "es", true},
		{"sv", "se", true}, {"sv-SE", "se", true}, {"sv_FI", "se", true}, {"SV", "se", true},
		{"fr_FR", "fr", true}, {"fr-CA", "fr", true}, {"EN", "en", true}, {"en-GB", "en", true},
		{"pt_BR", "pt", true}, {"pt_BR.UTF-8", "pt", true}, {"de_DE@euro", "de", true},
		{" es-419 ", "es", true}, {"nl-BE", "nl", true}, {"el-GR", "el", true},
		{"", "", false}, {"se", "", false}, {"gr", "", false}, {"ja", "", false},
		{"english", "", false}, {"e", "", false}, {"zh-Hans", "", false}, {"*", "", false},
		{"-fr", "", false}, {"fra", "", false},
	}
	for _, tt := range tests {
		got, ok := LangFor(tt.locale)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LangFor(%q) = %q, %v; want %q, %v", tt.locale, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLinkErrorText(t *testing.T) {
	t.Parallel()
	err := error(&LinkError{Reason: "RedirectUrl has a port"})
	if got, want := err.Error(), "link rejected: RedirectUrl has a port"; got != want {
		t.Errorf("LinkError.Error() = %q, want %q", got, want)
	}
}

// queryValues returns the query string of raw and every value in it, raw and unescaped.
func queryValues(raw string) []string {
	_, q, ok := strings.Cut(raw, "?")
	if !ok {
		return nil
	}
	vals := []string{q}
	for pair := range strings.FieldsFuncSeq(q, func(r rune) bool { return r == '&' || r == ';' }) {
		_, v, _ := strings.Cut(pair, "=")
		vals = append(vals, v)
		if u, err := url.QueryUnescape(v); err == nil {
			vals = append(vals, u)
		}
		if u, err := url.PathUnescape(v); err == nil {
			vals = append(vals, u)
		}
	}
	return vals
}

// FuzzBuildLink checks Build's promises on any RedirectUrl and locale: a link it returns is the
// input byte for byte plus parameters, on an allowed https host, under MaxLinkLen bytes; an
// error it returns carries no query value of the input. Values shorter than 16 bytes are not
// checked (a Mangopay token is 32 hex; short values like "a" occur in any text).
func FuzzBuildLink(f *testing.F) {
	b := newTestLinkBuilder(f)
	for _, s := range []string{
		"https://sca.sandbox.mangopay.com/?token=" + testToken,
		"https://sca.mangopay.com?token=" + testToken,
		"https://sca.mangopay.com.evil.example/?token=" + testToken,
		"https://sca.mangopay.com@evil.example/?token=" + testToken,
		"https://evil.example/?x=sca.mangopay.com&token=" + testToken,
		"https://" + testToken + "/?token=" + testToken,
	} {
		f.Add(s, "fr-FR")
	}
	f.Fuzz(func(t *testing.T, redirect, locale string) {
		got, err := b.Build(redirect, locale)
		if err != nil {
			var le *LinkError
			if !errors.As(err, &le) {
				t.Fatalf("Build(%q) error = %T %v, want *LinkError", redirect, err, err)
			}
			for _, v := range queryValues(redirect) {
				if len(v) >= 16 && strings.Contains(err.Error(), v) {
					t.Fatalf("Build(%q) error = %q, carries query value %q", redirect, err, v)
				}
			}
			return
		}
		if !strings.HasPrefix(got, redirect) {
			t.Fatalf("Build(%q) = %q, want the input as prefix", redirect, got)
		}
		if len(got) >= MaxLinkLen {
			t.Fatalf("len(Build(%q)) = %d, want < %d", redirect, len(got), MaxLinkLen)
		}
		u, err := url.Parse(redirect)
		if err != nil {
			t.Fatalf("Build accepted %q, which does not parse: %v", redirect, err)
		}
		if u.Scheme != "https" || u.User != nil || u.Port() != "" || u.Fragment != "" {
			t.Fatalf("Build accepted %q: scheme %q, user %v, port %q, fragment %q", redirect, u.Scheme, u.User, u.Port(), u.Fragment)
		}
		if h := strings.ToLower(u.Host); h != "sca.mangopay.com" && h != "sca.sandbox.mangopay.com" {
			t.Fatalf("Build accepted %q with host %q", redirect, u.Host)
		}
		gu, err := url.Parse(got)
		if err != nil {
			t.Fatalf("Build(%q) = %q, which does not parse: %v", redirect, got, err)
		}
		if !strings.EqualFold(gu.Host, u.Host) {
			t.Fatalf("Build(%q) = %q: host %q, want %q", redirect, got, gu.Host, u.Host)
		}
		if rs := gu.Query()["returnUrl"]; len(rs) != 1 || rs[0] != testReturnURL {
			t.Fatalf("Build(%q) = %q: returnUrl %q, want [%q]", redirect, got, rs, testReturnURL)
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	lb := newTestLinkBuilder(b)
	in := "https://sca.sandbox.mangopay.com/?token=" + testToken
	for b.Loop() {
		if _, err := lb.Build(in, "sv-SE"); err != nil {
			b.Fatal(err)
		}
	}
}
