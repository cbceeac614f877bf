package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// systemUnitDir is where admins' drop-ins live (systemd.unit(5), "Unit File
// Load Path"): files there override the packaged units and survive upgrades.
const systemUnitDir = "/etc/systemd/system"

// dropInName is the file enable writes inside UNIT.d/.
const dropInName = "odoo-notify.conf"

// dropInMarker opens every drop-in enable writes. The package's postrm looks
// for it on purge, so it removes only what odoo-notify wrote.
const dropInMarker = "# Written by odoo-notify enable"

// enableOptions is what `odoo-notify enable` puts in the drop-in.
type enableOptions struct {
	unit    string
	restart bool
	// hook adds ExecStopPost=, which records every failed run before the
	// handler starts, restarted ones too.
	hook           bool
	memoryMax      string
	memoryHigh     string
	oomScoreAdjust string
	// group is a group the handler also runs with, to read the unit's own
	// log file and config (Odoo's are mode 0640, group odoo).
	group string
	// watch makes the unit start its watcher, odoo-notify-watch@UNIT.service;
	// healthURL is what the watcher probes, when not [watch] health_url.
	watch     bool
	healthURL string
}

// watcherUnit is the watcher `enable --watch` starts with the unit.
func watcherUnit(unit string) string { return "odoo-notify-watch@" + unit + ".service" }

// watcherDropIn gives the watcher its --health-url.
func watcherDropIn(o enableOptions) []byte {
	return fmt.Appendf(nil, "%s; `odoo-notify disable %s` removes it.\n"+
		"# What odoo-notify watch probes for %s.\n"+
		"[Service]\nEnvironment=\"ODOO_NOTIFY_WATCH_ARGS=--health-url %s\"\n", dropInMarker, o.unit, o.unit, o.healthURL)
}

// sizeRe is what systemd.resource-control(5) accepts for MemoryMax= and
// MemoryHigh=: bytes with an optional K, M, G, T, P or E suffix (base 1024),
// a percentage of physical memory, or "infinity".
var sizeRe = lazyre.New(`^([0-9]+(\.[0-9]+)?[KMGTPE]?|[0-9]+(\.[0-9]+)?%|infinity)$`)

// groupRe is a group name as adduser accepts it.
var groupRe = lazyre.New(`^[a-z_][a-z0-9_.-]*$`)

// unitRe is a unit name as systemd.unit(5) allows it, with its type suffix.
var unitRe = lazyre.New(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$`)

// unitName checks a unit name and, as systemctl does, takes a name without
// a suffix for a service: "odoo" is odoo.service.
func unitName(s string) (string, error) {
	if s == "" {
		return "", errors.New("the unit name is empty")
	}
	if !strings.Contains(s, ".") || !unitRe.MatchString(s) && unitRe.MatchString(s+".service") {
		s += ".service"
	}
	if len(s) > 255 || !unitRe.MatchString(s) {
		return "", fmt.Errorf("%q is not a unit name like odoo.service", s)
	}
	if strings.HasPrefix(s, "odoo-notify") {
		return "", fmt.Errorf("%s is odoo-notify's own unit: a failing report handler must not start another one", s)
	}
	return s, nil
}

// hookPath is where the package installs the binary that ExecStopPost= runs.
const hookPath = "/usr/bin/odoo-notify"

// dropIn renders the drop-in. OnFailure= names the handler with %n, so the
// same file works for every instance of a template (systemd.unit(5),
// Specifiers).
func dropIn(o enableOptions) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s; `odoo-notify disable %s` removes it.\n", dropInMarker, o.unit)
	fmt.Fprintf(&b, "# %s\n", o.command())
	b.WriteString("[Unit]\n")
	b.WriteString("OnFailure=odoo-notify@%n.service\n")
	if o.watch {
		// The watcher starts with the unit, and stays when it stops:
		// it probes only while the unit runs.
		b.WriteString("Wants=odoo-notify-watch@%n.service\n")
	}
	if o.restart {
		// With Restart=, systemd 252 starts the OnFailure= handler only
		// once the start limit is hit; that report lists every crash of the
		// loop.
		b.WriteString("StartLimitBurst=5\n")
		b.WriteString("StartLimitIntervalSec=300\n")
	}
	if o.restart || o.hook || o.memoryMax != "" || o.memoryHigh != "" || o.oomScoreAdjust != "" {
		b.WriteString("\n[Service]\n")
	}
	if o.hook {
		// + runs it as root whatever User= says; - keeps its failure (or a
		// removed package) from failing the unit.
		fmt.Fprintf(&b, "ExecStopPost=+-%s hook %%n\n", hookPath)
	}
	if o.restart {
		b.WriteString("Restart=on-failure\n")
		b.WriteString("RestartSec=5\n")
	}
	if o.memoryHigh != "" {
		fmt.Fprintf(&b, "MemoryHigh=%s\n", o.memoryHigh)
	}
	if o.memoryMax != "" {
		fmt.Fprintf(&b, "MemoryMax=%s\n", o.memoryMax)
	}
	if o.oomScoreAdjust != "" {
		fmt.Fprintf(&b, "OOMScoreAdjust=%s\n", o.oomScoreAdjust)
	}
	return b.Bytes()
}

// parseUnitArgs parses the flags enable and disable share and the one unit.
func parseUnitArgs(f *flags, name string, args []string) (unit, root string, err error) {
	pos, root, err := parseRoot(f, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) != 1 {
		return "", "", usageErr("%s: takes one unit, like %s odoo.service", name, name)
	}
	unit, err = unitName(pos[0])
	if err != nil {
		return "", "", usageErr("%s: %v", name, err)
	}
	return unit, root, nil
}

// parseRoot parses the flags with --root, which enable and disable share,
// and returns the positional arguments.
func parseRoot(f *flags, args []string) (pos []string, root string, err error) {
	f.StringVar(&root, "root", "/", "write under this `dir` and do not reload systemd")
	pos, err = f.parse(args)
	return pos, root, err
}

// runEnable writes /etc/systemd/system/UNIT.d/odoo-notify.conf and reloads
// systemd, so UNIT's failures start odoo-notify@UNIT.service. When UNIT runs
// as a user of its own, a second drop-in lets that handler read UNIT's log
// file and config with UNIT's group.
func runEnable(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "enable")
	var o enableOptions
	f.BoolVar(&o.restart, "restart", false, "restart the unit after a crash, at most 5 times in 5 minutes")
	f.BoolVar(&o.hook, "hook", true, "add ExecStopPost= that records every failed run, restarted ones too, before the handler starts (the default for a service)")
	noHook := f.Bool("no-hook", false, "leave ExecStopPost= out: only OnFailure= reports, which on systemd < 255 misses the crashes Restart= restarts")
	refresh := f.Bool("refresh", false, "rewrite every drop-in enable wrote with the options it records, adding the hook (what a package upgrade runs); takes no unit")
	f.StringVar(&o.memoryMax, "memory-max", "", "MemoryMax=: kill the unit above this `size` (4G, 80%)")
	f.StringVar(&o.memoryHigh, "memory-high", "", "MemoryHigh=: throttle the unit above this `size`")
	f.StringVar(&o.oomScoreAdjust, "oom-score-adjust", "", "OOMScoreAdjust=: -1000 (never kill) to 1000")
	f.BoolVar(&o.watch, "watch", false, "start odoo-notify-watch@UNIT.service with the unit: it reports (and restarts, [watch] on_hang) a unit that no longer answers its health URL")
	f.StringVar(&o.healthURL, "health-url", "", "with --watch: the `URL` (or path on Odoo's address, like /web/login) the watcher probes instead of [watch] health_url")
	f.StringVar(&o.group, "group", "", "the handler also runs with this `group` to read the unit's log file (default: the unit's group; none: no group)")
	pos, root, err := parseRoot(f, args)
	if err != nil {
		return err
	}
	if *refresh {
		if len(pos) != 0 {
			return usageErr("enable --refresh: takes no unit (it rewrites every drop-in enable wrote)")
		}
		return refreshDropIns(ctx, a, root)
	}
	if len(pos) != 1 {
		return usageErr("enable: takes one unit, like enable odoo.service")
	}
	unit, err := unitName(pos[0])
	if err != nil {
		return usageErr("enable: %v", err)
	}
	o.unit = unit
	// ExecStopPost= is a service's: any other unit reports through
	// OnFailure= alone.
	o.hook = o.hook && !*noHook && strings.HasSuffix(unit, ".service")
	if err := o.validate(); err != nil {
		return err
	}

	var conn manager
	if root == "/" && systemdRunning() {
		if err = a.bus.Connect(ctx); err != nil {
			return withCode(exitFailure, fmt.Errorf("enable: connect to systemd: %w%s", err, asRoot(err)))
		}
		conn = a.bus
		if o.group == "" {
			o.group = unitGroup(ctx, a, conn, unit)
		}
	}
	if o.group == "none" || strings.Contains(unit, "@.") {
		o.group = "" // a template's handler instances have no drop-in folder of their own
	}

	if err := writeDropIn(a, filepath.Join(root, systemUnitDir, unit+".d", dropInName), dropIn(o), unit); err != nil {
		return err
	}
	watcherPath := filepath.Join(root, systemUnitDir, watcherUnit(unit)+".d", dropInName)
	if o.watch && o.healthURL != "" {
		if err := writeDropIn(a, watcherPath, watcherDropIn(o), unit); err != nil {
			return err
		}
	} else if removed, err := removeDropIn(watcherPath); err != nil {
		return withCode(exitFailure, fmt.Errorf("enable: %w%s", err, asRoot(err)))
	} else if removed {
		fmt.Fprintf(a.stdout, "removed %s\n", watcherPath)
	}
	handlerPath := filepath.Join(root, systemUnitDir, handlerUnit(unit)+".d", dropInName)
	if o.group != "" {
		if err := writeDropIn(a, handlerPath, handlerDropIn(o), unit); err != nil {
			return err
		}
	} else if removed, err := removeDropIn(handlerPath); err != nil {
		return withCode(exitFailure, fmt.Errorf("enable: %w%s", err, asRoot(err)))
	} else if removed {
		fmt.Fprintf(a.stdout, "removed %s\n", handlerPath)
	}
	if conn == nil {
		if root == "/" {
			fmt.Fprintf(a.stdout, "systemd is not running here: the change applies when it starts\n")
		}
		return nil
	}
	if err := reloadSystemd(ctx, a, conn, "enable", unit, true); err != nil {
		return err
	}
	return startWatcher(ctx, a, conn, unit, o.watch)
}

// startWatcher starts the unit's watcher now (enable --watch), restarting
// it so it reads its new settings, or stops it (enable without --watch).
func startWatcher(ctx context.Context, a *app, conn manager, unit string, watch bool) error {
	w := watcherUnit(unit)
	if !watch {
		state, err := conn.UnitProperty(ctx, w, "ActiveState")
		if err != nil || state == "inactive" {
			return nil
		}
		res, err := conn.Stop(ctx, w)
		if err != nil {
			return withCode(exitFailure, err)
		}
		if res != "done" {
			return withCode(exitFailure, fmt.Errorf("stop %s: the job ended %s: see journalctl -u %s", w, res, w))
		}
		fmt.Fprintf(a.stdout, "stopped %s\n", w)
		return nil
	}
	// Type=notify: the job is done once the watcher said READY=1, after
	// its first probe; a health URL that answers 404 fails it.
	res, err := conn.Restart(ctx, w)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("enable: %w", err))
	}
	if res != "done" {
		return withCode(exitFailure, fmt.Errorf("enable: start %s: the job ended %s: see journalctl -u %s", w, res, w))
	}
	fmt.Fprintf(a.stdout, "started %s: it probes %s's health URL (journalctl -u %s)\n", w, unit, w)
	return nil
}

// manager is what enable and disable ask systemd; sysbus.Bus does it.
// Restart and Stop wait for the job's result ("done", "failed", ...).
type manager interface {
	Reload(ctx context.Context) error
	UnitProperty(ctx context.Context, unit, name string) (any, error)
	ServiceProperties(ctx context.Context, unit string) (map[string]any, error)
	Restart(ctx context.Context, unit string) (string, error)
	Stop(ctx context.Context, unit string) (string, error)
}

// handlerUnit is the handler that OnFailure=odoo-notify@%n.service starts.
func handlerUnit(unit string) string { return "odoo-notify@" + unit + ".service" }

// handlerDropIn lets the handler read the unit's files with its group.
func handlerDropIn(o enableOptions) []byte {
	return fmt.Appendf(nil, "%s; `odoo-notify disable %s` removes it.\n"+
		"# Lets the handler read %s's log file and config, as group %s.\n"+
		"[Service]\nSupplementaryGroups=%s\n", dropInMarker, o.unit, o.unit, o.group, o.group)
}

// writeDropIn writes a drop-in unless it already says the same, and prints
// what it did.
func writeDropIn(a *app, path string, content []byte, unit string) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, content):
		fmt.Fprintf(a.stdout, "%s is already enabled: %s unchanged\n", unit, path)
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return withCode(exitFailure, fmt.Errorf("enable: %w", err))
	}
	if err := writeFileAtomic(path, content, 0o644); err != nil {
		return withCode(exitFailure, fmt.Errorf("enable: %w%s", err, asRoot(err)))
	}
	fmt.Fprintf(a.stdout, "wrote %s:\n%s", path, content)
	return nil
}

// unitGroup is the group the unit's processes run as, when it is not root's
// and not a dynamic one: the unit's Group=, else its User='s primary group.
func unitGroup(ctx context.Context, a *app, conn manager, unit string) string {
	if !strings.HasSuffix(unit, ".service") {
		return ""
	}
	p, err := conn.ServiceProperties(ctx, unit)
	if err != nil {
		a.log.Warn("could not read the unit's user: the handler reads its files as odoo-notify only; give --group", "unit", unit, "err", err)
		return ""
	}
	if dyn, _ := p["DynamicUser"].(bool); dyn {
		return ""
	}
	if g, _ := p["Group"].(string); g != "" && g != "root" && g != "0" {
		return g
	}
	name, _ := p["User"].(string)
	if name == "" || name == "root" || name == "0" {
		return ""
	}
	u, err := user.Lookup(name)
	if err != nil {
		a.log.Warn("could not look up the unit's user: give --group", "unit", unit, "user", name, "err", err)
		return ""
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil || g.Name == "root" {
		return ""
	}
	return g.Name
}

func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// command is the enable command that writes this drop-in, for the record in
// the file itself.
func (o enableOptions) command() string {
	c := "odoo-notify enable " + o.unit
	if o.restart {
		c += " --restart"
	}
	if !o.hook && strings.HasSuffix(o.unit, ".service") {
		c += " --no-hook"
	}
	if o.memoryMax != "" {
		c += " --memory-max " + o.memoryMax
	}
	if o.memoryHigh != "" {
		c += " --memory-high " + o.memoryHigh
	}
	if o.oomScoreAdjust != "" {
		c += " --oom-score-adjust " + o.oomScoreAdjust
	}
	if o.watch {
		c += " --watch"
	}
	if o.watch && o.healthURL != "" {
		c += " --health-url " + o.healthURL
	}
	return c
}

// refreshDropIns rewrites every drop-in enable wrote, from the enable
// command recorded in it: what an upgrade runs, so that drop-ins of an
// older version get what this one writes (the hook, unless --no-hook was
// given).
func refreshDropIns(ctx context.Context, a *app, root string) error {
	var errs []error
	for _, unit := range enabledUnits(root) {
		b, err := os.ReadFile(filepath.Join(root, systemUnitDir, unit+".d", dropInName))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec, ok := recordedArgs(b, unit)
		if !ok {
			a.log.Warn("enable --refresh: the drop-in records no enable command: left as it is", "unit", unit)
			continue
		}
		if err := runEnable(ctx, a, append(rec, "--root", root)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", unit, err))
		}
	}
	if len(errs) > 0 {
		return withCode(exitFailure, fmt.Errorf("enable --refresh: %w", errors.Join(errs...)))
	}
	return nil
}

// recordedArgs reads the "# odoo-notify enable UNIT ..." line dropIn writes
// and returns its arguments.
func recordedArgs(dropIn []byte, unit string) ([]string, bool) {
	for _, l := range strings.Split(string(dropIn), "\n") {
		rest, ok := strings.CutPrefix(l, "# odoo-notify enable ")
		if !ok {
			continue
		}
		args := strings.Fields(rest)
		if len(args) == 0 || args[0] != unit {
			return nil, false
		}
		return args, true
	}
	return nil, false
}

// validate checks the values systemd would otherwise reject at reload, where
// the admin would only see a warning in the journal.
func (o enableOptions) validate() error {
	var errs []error
	service := strings.HasSuffix(o.unit, ".service")
	if !service && (o.restart || o.memoryMax != "" || o.memoryHigh != "" || o.oomScoreAdjust != "") {
		errs = append(errs, fmt.Errorf("--restart and the memory options apply to services; %s is not one", o.unit))
	}
	for _, s := range []struct{ flag, v string }{{"--memory-max", o.memoryMax}, {"--memory-high", o.memoryHigh}} {
		if s.v != "" && !sizeRe.MatchString(s.v) {
			errs = append(errs, fmt.Errorf("%s %q: write a size like 4G, 512M, 80%% or infinity", s.flag, s.v))
		}
	}
	if o.watch && !service {
		errs = append(errs, fmt.Errorf("--watch applies to services; %s is not one", o.unit))
	}
	if o.healthURL != "" {
		u, err := url.Parse(o.healthURL)
		switch {
		case !o.watch:
			errs = append(errs, errors.New("--health-url goes with --watch"))
		case strings.ContainsAny(o.healthURL, " \t\n\"\\%$"):
			errs = append(errs, fmt.Errorf("--health-url %q: no spaces, quotes, %%, $ or backslashes", o.healthURL))
		case strings.HasPrefix(o.healthURL, "/"):
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("--health-url %q: write an http(s) URL, or a path on Odoo's address like /web/login", o.healthURL))
		}
	}
	if o.group != "" && o.group != "none" && !groupRe.MatchString(o.group) {
		errs = append(errs, fmt.Errorf("--group %q: write a group name like odoo, or none", o.group))
	}
	if o.oomScoreAdjust != "" {
		if n, err := strconv.Atoi(o.oomScoreAdjust); err != nil || n < -1000 || n > 1000 {
			errs = append(errs, fmt.Errorf("--oom-score-adjust %q: write a whole number from -1000 to 1000", o.oomScoreAdjust))
		}
	}
	if len(errs) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("enable: %w", errors.Join(errs...))}
	}
	return nil
}

// runDisable removes the drop-ins enable wrote, and their folders when
// nothing else is left in them, then reloads systemd.
func runDisable(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "disable")
	unit, root, err := parseUnitArgs(f, "disable", args)
	if err != nil {
		return err
	}
	path := filepath.Join(root, systemUnitDir, unit+".d", dropInName)
	removed, err := removeDropIn(path)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("disable: %w%s", err, asRoot(err)))
	}
	if !removed {
		fmt.Fprintf(a.stdout, "%s is not enabled: no %s\n", unit, path)
		return nil
	}
	fmt.Fprintf(a.stdout, "removed %s\n", path)
	handlerPath := filepath.Join(root, systemUnitDir, handlerUnit(unit)+".d", dropInName)
	if removed, err := removeDropIn(handlerPath); err != nil {
		return withCode(exitFailure, fmt.Errorf("disable: %w%s", err, asRoot(err)))
	} else if removed {
		fmt.Fprintf(a.stdout, "removed %s\n", handlerPath)
	}
	watcherPath := filepath.Join(root, systemUnitDir, watcherUnit(unit)+".d", dropInName)
	if removed, err := removeDropIn(watcherPath); err != nil {
		return withCode(exitFailure, fmt.Errorf("disable: %w%s", err, asRoot(err)))
	} else if removed {
		fmt.Fprintf(a.stdout, "removed %s\n", watcherPath)
	}
	if root != "/" {
		return nil
	}
	if !systemdRunning() {
		fmt.Fprintf(a.stdout, "systemd is not running here: the change applies when it starts\n")
		return nil
	}
	if err := a.bus.Connect(ctx); err != nil {
		return withCode(exitFailure, fmt.Errorf("disable: connect to systemd: %w (the files are removed: run systemctl daemon-reload as root)", err))
	}
	if err := reloadSystemd(ctx, a, a.bus, "disable", unit, false); err != nil {
		return err
	}
	return startWatcher(ctx, a, a.bus, unit, false)
}

// removeDropIn removes a drop-in and its folder when nothing else of the
// admin's is in it. It reports whether there was a drop-in.
func removeDropIn(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = os.Remove(filepath.Dir(path)) // fails, as it should, when another drop-in is there
	return true, nil
}

// reloadSystemd asks systemd over D-Bus to read its unit files again
// (systemctl daemon-reload), then reads the unit's OnFailure= back so the
// admin sees the change took.
func reloadSystemd(ctx context.Context, a *app, conn manager, op, unit string, enabled bool) error {
	if err := conn.Reload(ctx); err != nil {
		return withCode(exitFailure, fmt.Errorf("%s: reload systemd: %w (the files are written: run systemctl daemon-reload as root)", op, err))
	}
	fmt.Fprintln(a.stdout, "reloaded systemd")
	if strings.Contains(unit, "@.") {
		return nil // a template is not loaded by itself; its instances are
	}
	load, err := conn.UnitProperty(ctx, unit, "LoadState")
	if err == nil && load == "not-found" {
		fmt.Fprintf(a.stdout, "note: %s does not exist yet; the drop-in applies once it does\n", unit)
		return nil
	}
	p, err := conn.UnitProperty(ctx, unit, "OnFailure")
	if err != nil {
		a.log.Warn("could not read the unit back", "unit", unit, "err", err)
		return nil
	}
	handler := handlerUnit(unit)
	names, _ := p.([]string)
	has := false
	for _, n := range names {
		has = has || n == handler
	}
	switch {
	case enabled && has:
		fmt.Fprintf(a.stdout, "%s now reports its failures through %s\nnext: odoo-notify test\n", unit, handler)
	case enabled:
		return withCode(exitFailure, fmt.Errorf("%s: %s does not list %s in OnFailure= after the reload: check systemctl cat %s for a later drop-in that resets it", op, unit, handler, unit))
	case has:
		fmt.Fprintf(a.stdout, "%s still lists %s in OnFailure=: another drop-in or the unit file sets it (systemctl cat %s)\n", unit, handler, unit)
	default:
		fmt.Fprintf(a.stdout, "%s no longer reports its failures through odoo-notify\n", unit)
	}
	return nil
}

// asRoot says how to fix a permission error.
func asRoot(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return " (run it as root, or give --root DIR)"
	}
	return ""
}

// writeFileAtomic writes path through a temporary file in the same folder,
// fsynced and renamed, so systemd never reads half a drop-in.
func writeFileAtomic(path string, b []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(t.Name())
	if _, err := t.Write(b); err != nil {
		t.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := t.Chmod(mode); err != nil {
		t.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := t.Sync(); err != nil {
		t.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := t.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(t.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
