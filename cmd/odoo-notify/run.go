package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/internal/sysbus"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/state"
)

// Exit codes, as sysexits(3) has them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 64 // EX_USAGE
	exitUnavailable = 69 // EX_UNAVAILABLE: a channel failed for good
	exitTempFail    = 75 // EX_TEMPFAIL: try again later (the outbox holds it)
	exitConfig      = 78 // EX_CONFIG
)

// exitError carries an exit code with its cause.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errReported marks an error that was already written out in full (the
// per-channel summary, check-config's problem list): main prints nothing more.
var errReported = errors.New("reported")

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErr is a usage error (exit 64): run prints it once, with the
// command's usage.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// app is what every subcommand shares: where output goes, the logger, the
// config, and the clock and environment, so tests can replace them.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	getenv         func(string) string
	now            func() time.Time

	configPath  string
	configGiven bool
	cfg         *config.Config
	// stateDir is --state-dir: the outbox and the dedup state.
	stateDir string
	// failed is the failed run the hook recorded that this run reports,
	// if any: its facts stand in for MONITOR_* when systemd gave none.
	failed *outbox.Failed
	// st is the state folder, opened once per run (openStore).
	st    *outbox.Store
	stErr error
	// invocation is preview --invocation: the failed run to report
	// instead of the last one.
	invocation string
	// bus is the system bus: one connection per run, opened when first
	// asked and closed at exit.
	bus *sysbus.Bus
}

// run is the whole program without os.Exit: main and the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{
		stdout: stdout,
		stderr: stderr,
		log:    newLogger(stderr),
		getenv: os.Getenv,
		now:    time.Now,
		bus:    sysbus.New(),
	}
	defer a.bus.Close()
	if len(args) == 0 {
		printUsage(stderr)
		return &exitError{code: exitUsage, err: errReported}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help":
		name = "help"
	case "--version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "odoo-notify: unknown command %q\n\n", name)
		printUsage(stderr)
		return &exitError{code: exitUsage, err: errReported}
	}
	err := c.run(ctx, a, rest)
	switch {
	case errors.Is(err, errHelp):
		return nil
	case err != nil && exitCode(err) == exitUsage && !errors.Is(err, errReported):
		// Printed here, once, with how the command is used.
		fmt.Fprintf(stderr, "odoo-notify: %v\nUsage: %s\n", err, c.synopsis())
		if c.name != "help" {
			fmt.Fprintf(stderr, "odoo-notify help %s lists its flags.\n", c.name)
		}
		return &exitError{code: exitUsage, err: errReported}
	}
	return err
}

// newLogger writes text to stderr. Under systemd, stderr is the journal,
// which stamps each line itself: the time attribute would only repeat it.
func newLogger(w io.Writer) *slog.Logger {
	dropTime := w == io.Writer(os.Stderr) && journal.StderrIsJournalStream()
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if dropTime && len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// flags builds a FlagSet for one subcommand with the options every command
// shares. Parse errors are usage errors (exit 64).
type flags struct {
	*flag.FlagSet
	config   string
	stateDir string
	a        *app
}

func newFlags(a *app, name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs, a: a}
	fs.StringVar(&f.config, "config", config.DefaultPath, "the config `file`")
	fs.StringVar(&f.stateDir, "state-dir", "", "the state `folder` (outbox, dedup); default $STATE_DIRECTORY, else /var/lib/odoo-notify")
	return f
}

// parse accepts flags before and after the positional arguments
// ("preview odoo.service --format json") and returns the positionals.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				// -h or --help: the command's usage and flags, to stdout.
				if c := lookup(f.Name()); c != nil {
					c.printHelp(f.a.stdout, f.FlagSet)
				}
				return nil, errHelp
			}
			msg := err.Error()
			if n, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
				msg = "unknown flag --" + strings.TrimPrefix(n, "-")
			}
			return nil, usageErr("%s: %s", f.Name(), msg)
		}
		args = f.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadConfig reads the config file. A missing file at the default path is
// not an error: built-in defaults (no channel, reports to the journal) make
// a fresh install work before anyone edits anything. An explicitly named
// file must exist.
func (a *app) loadConfig(f *flags) error {
	a.configPath = f.config
	a.stateDir = f.stateDir
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == "config" {
			a.configGiven = true
		}
	})
	cfg, err := config.Load(a.configPath, a.getenv("CREDENTIALS_DIRECTORY"))
	if err != nil && !a.configGiven && errors.Is(err, os.ErrNotExist) {
		a.log.Warn("no config file: using defaults, reports go to the journal", "path", a.configPath)
		cfg, err = config.Default(), nil
	}
	a.cfg = cfg
	return withCode(exitConfig, err)
}

// httpClient is the one HTTP client of a run: bounded dials and TLS
// handshakes; each request's whole time is bounded by its context.
func httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 20 * time.Second
	return &http.Client{
		Transport: t,
		// A webhook that redirects is misconfigured; following it would
		// send the report (and its signature) somewhere nobody chose.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// openStore opens the state folder (--state-dir, $STATE_DIRECTORY) the
// first time a run needs it, and gives the same Store, or error, after.
func (a *app) openStore() (*outbox.Store, error) {
	if a.st == nil && a.stErr == nil {
		a.st, a.stErr = outbox.Open(state.Dir(a.stateDir, a.getenv), a.log)
	}
	return a.st, a.stErr
}
