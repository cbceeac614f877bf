// Package journal is odoo-notify's boundary with systemd: it reads the failed
// run's lines and systemd's own messages from the journal (sd-journal through
// cgo), and the failed unit's state from the OnFailure= environment, from
// systemd over D-Bus, or, when neither is there, from systemd's journal
// messages.
//
// It is the only package that needs cgo and libsystemd (headers to build,
// libsystemd.so.0 at run time), so the rest of odoo-notify builds and tests
// without them.
//
// Every read seeks from the tail of the journal through sd-journal's field
// indexes: the cost of a read depends on how many entries it returns, not on
// how big the journal is. See sd_journal_open(3), sd_journal_add_match(3) and
// systemd.journal-fields(7).
package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// MaxMessage is the most of one MESSAGE an Entry holds. A service can log a
// line of many megabytes (a dumped request body, a base64 attachment); a crash
// report needs its start, and a mail server rejects the whole.
const MaxMessage = 64 << 10

// CutMark ends a Message that was cut to MaxMessage bytes.
const CutMark = "… [cut]"

// Field names read from the journal. See systemd.journal-fields(7).
const (
	fieldMessage             = "MESSAGE"
	fieldPriority            = "PRIORITY"
	fieldTransport           = "_TRANSPORT"
	fieldMessageID           = "MESSAGE_ID"
	fieldUnit                = "UNIT"
	fieldInvocationID        = "INVOCATION_ID"
	fieldSystemdUnit         = "_SYSTEMD_UNIT"
	fieldSystemdInvocationID = "_SYSTEMD_INVOCATION_ID"
	fieldUnitResult          = "UNIT_RESULT"
	fieldExitCode            = "EXIT_CODE"
	fieldExitStatus          = "EXIT_STATUS"
	fieldNRestarts           = "N_RESTARTS"
	fieldSyslogIdentifier    = "SYSLOG_IDENTIFIER"
	fieldPID                 = "_PID"
)

// extraFields are the fields kept in Entry.Fields: the ones that say which
// run an entry belongs to and what systemd concluded about it. Keeping only
// these bounds the memory of an entry whatever else a service attaches.
var extraFields = []string{
	fieldMessageID, fieldUnit, fieldInvocationID, fieldSystemdUnit,
	fieldSystemdInvocationID, fieldUnitResult, fieldExitCode, fieldExitStatus,
	fieldNRestarts, fieldSyslogIdentifier, fieldPID,
}

// defaultPriority is what journald assumes for a line without PRIORITY
// (info), as journalctl does.
const defaultPriority = 6

// Entry is one journal entry.
type Entry struct {
	Time     time.Time // __REALTIME_TIMESTAMP
	Priority int       // PRIORITY, 6 (info) when missing
	// Message is MESSAGE as stored: bytes that are not UTF-8 are kept as they
	// are. A longer message is cut to MaxMessage bytes and ends with CutMark.
	Message   string
	Transport string // _TRANSPORT: kernel, stdout, journal, syslog, ...
	// Fields holds the entry's MESSAGE_ID, UNIT, INVOCATION_ID,
	// _SYSTEMD_UNIT, _SYSTEMD_INVOCATION_ID, UNIT_RESULT, EXIT_CODE,
	// EXIT_STATUS, N_RESTARTS, SYSLOG_IDENTIFIER and _PID, where present;
	// a run's lines (RunLines, RunExcerpt) hold only
	// _SYSTEMD_INVOCATION_ID, and RunSince's only _PID, with Transport
	// empty: they are read for their text.
	Fields map[string]string
}

// ErrNoAccess is returned (wrapped, test with errors.Is) when journal files
// exist but this user may not read them. sd-journal skips the files it
// cannot open and reads the rest (journalctl warns from a check of its own),
// so without this check a permission problem would look like a unit that
// logged nothing.
var ErrNoAccess = errors.New("journal not readable by this user")

// System journal locations, persistent and volatile. See
// systemd-journald.service(8).
var systemDirs = []string{"/var/log/journal", "/run/log/journal"}

// Journal reads one set of journal files. It is safe for concurrent use;
// reads are serialised because sd-journal keeps one read position.
type Journal struct {
	mu sync.Mutex
	sd *sdjournal.Journal
	// files are the journal files sd reads, for Narrow; nil for the live
	// system journal.
	files []string
}

// OpenSystem opens this machine's journal, as journalctl does without
// options.
func OpenSystem() (*Journal, error) {
	const op = "journal: open system journal"
	// sd_journal_open(SD_JOURNAL_LOCAL_ONLY) reads only this machine's
	// subdirectory; containers' journals linked next to it are not ours to
	// check.
	only := ""
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		only = strings.TrimSpace(string(id))
	}
	found := 0
	for _, dir := range systemDirs {
		files, err := checkDir(dir, only)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		found += len(files)
	}
	if found == 0 {
		return nil, fmt.Errorf("%s: no journal files in %s or %s: is systemd-journald running? (use --journal-dir or --journal-file to read saved journals)",
			op, systemDirs[0], systemDirs[1])
	}
	sd, err := sdjournal.NewJournal()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, noAccess("", err))
	}
	// journald rotates the live files under a reader's feet (system.journal
	// becomes system@....journal): reopening some of them by name could
	// lose the newest entries, so Narrow leaves this journal whole.
	return newJournal(op, sd, nil)
}

// OpenFiles opens the given journal files (--journal-file).
func OpenFiles(paths []string) (*Journal, error) {
	const op = "journal: open files"
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no file given", op)
	}
	for _, p := range paths {
		if err := checkFile(p); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	sd, err := sdjournal.NewJournalFromFiles(paths...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, noAccess("", err))
	}
	return newJournal(op, sd, slices.Clone(paths))
}

// OpenDir opens the journal files in dir and in its machine-id
// subdirectories (--journal-dir), as journalctl --directory does.
func OpenDir(dir string) (*Journal, error) {
	const op = "journal: open directory"
	files, err := checkDir(dir, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		return nil, fmt.Errorf("%s: no *.journal files in %s: give the directory that holds them", op, dir)
	}
	sd, err := sdjournal.NewJournalFromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, noAccess("", err))
	}
	return newJournal(op, sd, files)
}

// dataThreshold is a hint to sd-journal to read (and decompress) no more of
// a field than a report keeps; one byte more tells a cut message from one
// that fits.
const dataThreshold = uint64(len(fieldMessage) + 1 + MaxMessage + 1)

func newJournal(op string, sd *sdjournal.Journal, files []string) (*Journal, error) {
	if err := sd.SetDataThreshold(dataThreshold); err != nil {
		sd.Close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &Journal{sd: sd, files: files}, nil
}

// Close releases the journal files.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sd == nil {
		return nil
	}
	err := j.sd.Close()
	j.sd = nil
	if err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

// RunLines returns the last n entries of one run of unit, in time order:
// entries with _SYSTEMD_INVOCATION_ID=id (the service's output) or
// INVOCATION_ID=id (systemd's messages about the run). With id == "", the
// unit's most recent n entries (_SYSTEMD_UNIT=unit or UNIT=unit).
func (j *Journal) RunLines(unit, id string, n int) ([]Entry, error) {
	entries, _, err := j.RunExcerpt(unit, id, n, MaxExcerptBytes)
	return entries, err
}

// MaxExcerptBytes bounds the messages of one run that a report keeps: with
// 10,000 lines of 17 KB asked for, the report would be 170 MB, more than any
// mail server takes and more memory than a small server has to spare. At
// 128 KiB, even a log of control characters, which JSON escapes six times
// over, keeps a webhook body under 1 MiB.
const MaxExcerptBytes = 128 << 10

// RunExcerpt is RunLines within a byte budget: it stops walking back when
// the messages it holds reach maxBytes (the newest entry is always kept),
// and says whether older lines were left out for the budget.
func (j *Journal) RunExcerpt(unit, id string, n, maxBytes int) (entries []Entry, cut bool, err error) {
	op := fmt.Sprintf("journal: read lines of %s", unit)
	var groups [][]string
	if id != "" {
		op += " run " + id
		groups = [][]string{{fieldSystemdInvocationID + "=" + id}, {fieldInvocationID + "=" + id}}
	} else {
		if unit == "" {
			return nil, false, fmt.Errorf("journal: read lines: no unit and no invocation id given")
		}
		groups = [][]string{{fieldSystemdUnit + "=" + unit}, {fieldUnit + "=" + unit}}
	}
	entries, cut, err = j.walk(walkSpec{groups: groups, max: n, maxBytes: maxBytes, fields: runFields})
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	return entries, cut, nil
}

// Events returns systemd's own messages about unit (UNIT=unit, written by
// PID 1 or with SYSLOG_IDENTIFIER=systemd), oldest first: the newest max
// of those not older than since. Walk reads them.
//
// The journal is matched on UNIT= alone and the writer is checked here: a
// conjunction with _PID=1 makes sd-journal bisect PID 1's entry array,
// which holds every message systemd wrote about any unit, in every journal
// file. Entries that set UNIT= without being systemd's are skipped, up to
// maxForeign of them per message kept, so that a program logging UNIT=
// cannot make the read walk the whole journal.
func (j *Journal) Events(unit string, since time.Time, max int) ([]Entry, error) {
	if unit == "" {
		return nil, fmt.Errorf("journal: read systemd events: no unit given")
	}
	entries, _, err := j.walk(walkSpec{
		groups: [][]string{{fieldUnit + "=" + unit}},
		since:  since, max: max, maxBytes: MaxExcerptBytes,
		keep: fromSystemd, maxSkip: maxForeign * max,
	})
	if err != nil {
		return nil, fmt.Errorf("journal: read systemd events of %s: %w", unit, err)
	}
	return entries, nil
}

// maxForeign bounds the entries with UNIT= that are not systemd's that
// Events skips, per message it returns.
const maxForeign = 10

// fromSystemd says whether e was written by systemd itself: PID 1, or a
// systemd that says so (the user manager, older systemd through syslog).
func fromSystemd(e Entry) bool {
	return e.Fields[fieldPID] == "1" || e.Fields[fieldSyslogIdentifier] == "systemd"
}

// Kernel returns kernel messages (_TRANSPORT=kernel, where the OOM killer
// writes) from since to until inclusive, oldest first: the newest max of
// them. A zero until means up to the newest entry.
func (j *Journal) Kernel(since, until time.Time, max int) ([]Entry, error) {
	entries, _, err := j.walk(walkSpec{groups: [][]string{{fieldTransport + "=kernel"}}, since: since, until: until, max: max, maxBytes: MaxExcerptBytes})
	if err != nil {
		return nil, fmt.Errorf("journal: read kernel messages: %w", err)
	}
	return entries, nil
}

// walkSpec says what walk reads.
type walkSpec struct {
	// groups: entries that match any of them, each a conjunction of
	// FIELD=value matches.
	groups [][]string
	// since, until: the entries' time range, inclusive; zero: unbounded.
	since, until time.Time
	// max entries, and at most maxBytes of their messages (the newest
	// entry is always kept).
	max, maxBytes int
	// keep, when set, drops the entries it refuses; at most maxSkip of
	// them are read before walk stops.
	keep    func(Entry) bool
	maxSkip int
	// fields, when set, are the only fields beside the time, MESSAGE and
	// PRIORITY read into an Entry (see readFields); nil reads them all.
	fields []string
}

// walk returns, oldest first, the newest entries that w describes, and
// whether older ones were left out for the byte budget. It walks backwards
// from the tail, or from until, so it reads only what it returns plus one
// entry.
func (j *Journal) walk(w walkSpec) (out []Entry, cut bool, err error) {
	groups, since, until, max, maxBytes := w.groups, w.since, w.until, w.max, w.maxBytes
	if max <= 0 {
		return nil, false, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sd == nil {
		return nil, false, errors.New("journal is closed")
	}
	sd := j.sd
	sd.FlushMatches()
	defer sd.FlushMatches()
	for i, group := range groups {
		if i > 0 {
			if err := sd.AddDisjunction(); err != nil {
				return nil, false, err
			}
		}
		for _, m := range group {
			if err := sd.AddMatch(m); err != nil {
				return nil, false, fmt.Errorf("match %q: %w", m, err)
			}
		}
	}
	if until.IsZero() {
		if err := sd.SeekTail(); err != nil {
			return nil, false, err
		}
	} else {
		// The entry at until itself is wanted: seek just past it.
		if err := sd.SeekRealtimeUsec(usec(until) + 1); err != nil {
			return nil, false, err
		}
	}
	size, skipped := 0, 0
	for len(out) < max {
		moved, err := sd.Previous()
		if err != nil {
			return nil, false, noAccess("", err)
		}
		if moved == 0 {
			break
		}
		var e Entry
		if w.fields != nil {
			e, err = readFields(sd, w.fields)
		} else {
			e, err = read(sd)
		}
		if err != nil {
			return nil, false, err
		}
		if !until.IsZero() && e.Time.After(until) {
			continue
		}
		if !since.IsZero() && e.Time.Before(since) {
			break
		}
		if w.keep != nil && !w.keep(e) {
			if skipped++; skipped > w.maxSkip {
				break
			}
			continue
		}
		if size += len(e.Message); size > maxBytes && len(out) > 0 {
			cut = true
			break
		}
		out = append(out, e)
	}
	slices.Reverse(out)
	return out, cut, nil
}

func usec(t time.Time) uint64 {
	if t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMicro())
}

// read returns the entry at sd's read position. It takes the entry's
// fields in one pass (sd_journal_enumerate_data): asking for each field by
// name (sd_journal_get_data) walks the entry's fields once per name.
func read(sd *sdjournal.Journal) (Entry, error) {
	je, err := sd.GetEntry()
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		Time:     time.UnixMicro(int64(je.RealtimeTimestamp)),
		Priority: defaultPriority,
		Fields:   make(map[string]string, 4),
	}
	if msg, ok := je.Fields[fieldMessage]; ok {
		e.Message = cut(msg)
	}
	if p, ok := je.Fields[fieldPriority]; ok {
		if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 7 {
			e.Priority = n
		}
	}
	e.Transport = je.Fields[fieldTransport]
	for _, f := range extraFields {
		if v, ok := je.Fields[f]; ok {
			// These fields are short by nature; cut them too so that a
			// program that abuses one cannot blow up a report.
			e.Fields[f] = cut(v)
		}
	}
	return e, nil
}

// runFields are what a run's lines need beside the time, MESSAGE and
// PRIORITY: whose line it is (the service's own, or systemd's about it).
var runFields = []string{fieldSystemdInvocationID}

// readFields returns the entry at sd's read position with only the time,
// MESSAGE, PRIORITY and the given fields, each asked for by name. For the
// few fields a run's lines need this costs a third of read, which copies
// every field of the entry into a map (a service's entry has 25 or more):
// 800 entries of a run, 2.7 ms against 6.5 ms (BenchmarkReadEntry).
func readFields(sd *sdjournal.Journal, fields []string) (Entry, error) {
	usec, err := sd.GetRealtimeUsec()
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Time: time.UnixMicro(int64(usec)), Priority: defaultPriority, Fields: make(map[string]string, len(fields))}
	if msg, ok, err := value(sd, fieldMessage); err != nil {
		return Entry{}, err
	} else if ok {
		e.Message = cut(msg)
	}
	if p, ok, err := value(sd, fieldPriority); err != nil {
		return Entry{}, err
	} else if n, cerr := strconv.Atoi(p); ok && cerr == nil && n >= 0 && n <= 7 {
		e.Priority = n
	}
	for _, f := range fields {
		v, ok, err := value(sd, f)
		if err != nil {
			return Entry{}, err
		}
		switch {
		case !ok:
		case f == fieldTransport:
			e.Transport = v
		default:
			e.Fields[f] = cut(v)
		}
	}
	return e, nil
}

// value returns field's value in the entry at sd's read position; ok is
// false when the entry has no such field.
func value(sd *sdjournal.Journal, field string) (v string, ok bool, err error) {
	b, err := sd.GetDataBytes(field)
	if errors.Is(err, syscall.ENOENT) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read field %s: %w", field, err)
	}
	// sd-journal returns FIELD=value.
	return string(b[min(len(field)+1, len(b)):]), true, nil
}

// cut returns s cut to at most MaxMessage bytes plus CutMark. It
// cuts before a UTF-8 sequence that the cut would split, so that a text
// message stays valid text.
func cut(b string) string {
	if len(b) <= MaxMessage {
		return b
	}
	n := MaxMessage
	for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(b[n]); i++ {
		n--
	}
	if !utf8.RuneStart(b[n]) {
		// Not text: cut where the limit says.
		n = MaxMessage
	}
	return string(b[:n]) + CutMark
}

// machineID matches the machine-id subdirectories that sd-journal reads
// under a journal directory.
var machineID = lazyre.New(`^[0-9a-f]{32}$`)

// checkDir returns the journal files under dir (dir itself and its
// machine-id subdirectories, as sd_journal_open_directory reads them, or
// only the subdirectory named only when it is not empty), and an
// ErrNoAccess error when one of them, or a directory, cannot be read. A
// missing dir holds no files.
func checkDir(dir, only string) ([]string, error) {
	found, err := checkOneDir(dir)
	if err != nil || found == nil {
		return nil, err
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !machineID.MatchString(e.Name()) || (only != "" && e.Name() != only) {
			continue
		}
		files, err := checkOneDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		found = append(found, files...)
	}
	return found, nil
}

// checkOneDir checks the journal files directly in dir and returns them;
// nil when dir does not exist, empty when it holds none.
func checkOneDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, noAccess(dir, err)
	}
	found := []string{}
	for _, e := range entries {
		if e.IsDir() || !isJournalFile(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := checkFile(p); err != nil {
			return nil, err
		}
		found = append(found, p)
	}
	return found, nil
}

func isJournalFile(name string) bool {
	return filepath.Ext(name) == ".journal" || filepath.Ext(name) == ".journal~"
}

// checkFile opens path for reading, as sd-journal will, to tell "cannot
// read" apart from "nothing logged".
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return noAccess(path, err)
	}
	f.Close()
	return nil
}

// noAccess wraps err with ErrNoAccess and what to do about it when err is a
// permission error; other errors it returns as they are.
func noAccess(path string, err error) error {
	if !isPermission(err) {
		return err
	}
	who := "uid " + strconv.Itoa(os.Geteuid())
	if u, uerr := user.LookupId(strconv.Itoa(os.Geteuid())); uerr == nil {
		who = fmt.Sprintf("user %s (%s)", u.Username, who)
	}
	if path != "" {
		return fmt.Errorf("%s: %w: add %s to group systemd-journal (SupplementaryGroups=systemd-journal in the unit) or make the files readable", path, ErrNoAccess, who)
	}
	return fmt.Errorf("%w: add %s to group systemd-journal (SupplementaryGroups=systemd-journal in the unit)", ErrNoAccess, who)
}

// isPermission decides whether err means "this user may not read it":
// EACCES or EPERM, however wrapped.
func isPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// MaxDumpBytes bounds what RunSince reads: an Odoo stack dump of a few
// processes with dozens of threads each.
const MaxDumpBytes = 4 << 20

// RunSince returns the service's own output in run id (entries with
// _SYSTEMD_INVOCATION_ID=id) logged at since or later, oldest first, at
// most max entries and MaxDumpBytes: what a watcher reads of the stack
// dump it asked for.
func (j *Journal) RunSince(id string, since time.Time, max int) ([]Entry, error) {
	if id == "" {
		return nil, errors.New("journal: read a run's lines: no invocation id given")
	}
	entries, _, err := j.walk(walkSpec{groups: [][]string{{fieldSystemdInvocationID + "=" + id}}, since: since, max: max, maxBytes: MaxDumpBytes, fields: []string{fieldPID}})
	if err != nil {
		return nil, fmt.Errorf("journal: read lines of run %s since %s: %w", id, since.UTC().Format(time.RFC3339), err)
	}
	return entries, nil
}
