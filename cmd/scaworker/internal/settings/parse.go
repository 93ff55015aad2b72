package settings

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
	"go.uber.org/zap"
)

// LookupEnv reads one environment variable, like [os.LookupEnv].
type LookupEnv func(name string) (string, bool)

// UsageError is a command-line or environment error: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// HelpShown is returned by [Parse] after it printed the help asked for
// with -h: the command is done (exit code 0).
type HelpShown struct{}

func (HelpShown) Error() string { return "help shown" }

// Parsed is a parsed command line.
type Parsed struct {
	CLI     *CLI
	Command string // "run", "demo", "check", "version", "settings-table"
	ctx     *kong.Context
}

// kongExit carries kong's exit request (after -h) out of Parse.
type kongExit struct{ code int }

// New builds the kong parser of cli. env may be nil (no environment).
func New(cli *CLI, env LookupEnv, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("scaworker"),
		kong.Description("scaworker turns trigger events on NATS JetStream into Mangopay SCA enrollment links."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit{code}) }),
		kong.Resolvers(envResolver(env)),
		kong.ValueFormatter(helpValue),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.Help(printHelp),
	)
}

// Parse parses args (without the program name) and the environment. Help
// (-h, `help [command]`, or no arguments) is written to stdout and reported
// as [HelpShown]; any other error is a [*UsageError].
func Parse(args []string, env LookupEnv, stdout, stderr io.Writer) (p *Parsed, err error) {
	cli := &CLI{}
	k, err := New(cli, env, stdout, stderr)
	if err != nil {
		return nil, fmt.Errorf("build command line: %w", err) // a bug in the definitions
	}
	defer func() {
		if r := recover(); r != nil {
			ke, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			p = nil
			if ke.code == 0 {
				err = HelpShown{}
			} else {
				err = &UsageError{Err: errors.New("invalid command line")}
			}
		}
	}()
	kctx, err := k.Parse(helpArgs(args))
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return &Parsed{CLI: cli, Command: kctx.Command(), ctx: kctx}, nil
}

// helpArgs turns the ways of asking for help into -h: no arguments at all
// (bare `scaworker`) and `scaworker help [command...]`.
func helpArgs(args []string) []string {
	switch {
	case len(args) == 0:
		return []string{"--help"}
	case args[0] == "help":
		return append(append([]string(nil), args[1:]...), "--help")
	}
	return args
}

// EnvName returns the environment variable of flag, "" when it has none.
func EnvName(f *kong.Flag) string {
	if f.Name == "help" {
		return ""
	}
	switch v := f.Tag.Get("envvar"); v {
	case "-":
		return ""
	case "":
		return "SCA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
	default:
		return v
	}
}

func envResolver(env LookupEnv) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		name := EnvName(f)
		if name == "" || env == nil {
			return nil, nil
		}
		v, ok := env(name)
		if !ok || v == "" {
			return nil, nil
		}
		if f.Enum != "" && !f.EnumMap()[v] {
			return nil, fmt.Errorf("environment variable %s=%q: must be one of %s", name, v, f.Enum)
		}
		// Parse into a scratch value first, so that the error names the variable.
		scratch := reflect.New(f.Target.Type()).Elem()
		if err := f.Parse(kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: v}), scratch); err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
		return v, nil
	})
}

// helpValue is the help of one flag: its text, variable and default.
func helpValue(v *kong.Value) string {
	help := v.Help
	if v.Flag == nil {
		return help
	}
	var extra []string
	if name := EnvName(v.Flag); name != "" {
		extra = append(extra, "$"+name)
	}
	if v.HasDefault && v.Default != "" {
		extra = append(extra, "default: "+v.Default)
	}
	if len(extra) == 0 {
		return help
	}
	return help + " (" + strings.Join(extra, "; ") + ")"
}

// Flags returns the settings of the selected command, in declaration order.
func (p *Parsed) Flags() []*kong.Flag {
	return settingFlags(p.ctx.Selected())
}

func settingFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, group := range n.AllFlags(false) {
		for _, f := range group {
			if EnvName(f) != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// LogFields returns the effective configuration of the selected command as
// zap fields keyed by variable name, secrets redacted.
func (p *Parsed) LogFields() []zap.Field {
	var fields []zap.Field
	for _, f := range p.Flags() {
		fields = append(fields, zap.String(EnvName(f), Display(f)))
	}
	return fields
}

// Redacted is what a set secret is shown as.
const Redacted = "[redacted]"

// Display returns the value of f as it may be shown: secrets redacted,
// URL passwords removed.
func Display(f *kong.Flag) string {
	s := format(f.Target)
	switch {
	case s == "":
		return ""
	case f.Tag.Has("secret"):
		return Redacted
	case f.Tag.Get("redact") == "url":
		return RedactURLs(s)
	}
	return s
}

func format(v reflect.Value) string {
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// RedactURLs removes the password (and a lone token user) of every URL in a
// comma-separated list. Parts that do not parse are shown as [redacted]
// when they hold '@'.
func RedactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, part := range parts {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil {
			if strings.Contains(part, "@") {
				parts[i] = Redacted
			}
			continue
		}
		if u.User != nil {
			if _, hasPassword := u.User.Password(); hasPassword {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User(Redacted) // a token: nats://token@host
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// ReadAPIKey resolves MANGOPAY_API_KEY / MANGOPAY_API_KEY_FILE into m.APIKey.
func (m *Mangopay) ReadAPIKey(readFile func(string) ([]byte, error)) error {
	if m.APIKeyFile == "" {
		return nil
	}
	if m.APIKey != "" {
		return errors.New("MANGOPAY_API_KEY_FILE: set together with MANGOPAY_API_KEY; set only one")
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	b, err := readFile(m.APIKeyFile)
	if err != nil {
		return fmt.Errorf("MANGOPAY_API_KEY_FILE: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return fmt.Errorf("MANGOPAY_API_KEY_FILE: %s is empty", m.APIKeyFile)
	}
	m.APIKey = key
	return nil
}
