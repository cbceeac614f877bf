// Package lazyre holds regular expressions that are compiled the first
// time they are used, not when the program starts.
//
// Every odoo-notify process starts from one binary that holds the patterns
// of every command: the crash analysis, the redaction rules, the config's
// checks, the stack dump reader. Compiled at start, they cost every run of
// the hook, the handler and the watcher about a millisecond and a half and
// the memory of programs most runs never use. A pattern here is compiled
// once, by the first goroutine that needs it.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled on first use. Its methods are
// those of regexp.Regexp that odoo-notify uses.
type Regexp struct {
	expr string
	get  func() *regexp.Regexp
}

var (
	mu  sync.Mutex
	all []*Regexp
)

// New returns expr, to be compiled when first used. A bad expr panics
// then, as regexp.MustCompile does at start; Check compiles every
// expression made by New, for a test to call.
func New(expr string) *Regexp {
	r := &Regexp{expr: expr, get: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
	mu.Lock()
	all = append(all, r)
	mu.Unlock()
	return r
}

// Of wraps a regular expression compiled already (one a user wrote, whose
// error must be told at once).
func Of(re *regexp.Regexp) *Regexp {
	return &Regexp{expr: re.String(), get: func() *regexp.Regexp { return re }}
}

// Check compiles every expression made by New so far and returns the
// first that does not compile, with its error.
func Check() (expr string, err error) {
	mu.Lock()
	defer mu.Unlock()
	for _, r := range all {
		if _, err := regexp.Compile(r.expr); err != nil {
			return r.expr, err
		}
	}
	return "", nil
}

// Regexp returns the compiled expression.
func (r *Regexp) Regexp() *regexp.Regexp { return r.get() }

func (r *Regexp) String() string                         { return r.expr }
func (r *Regexp) MatchString(s string) bool              { return r.get().MatchString(s) }
func (r *Regexp) FindStringIndex(s string) []int         { return r.get().FindStringIndex(s) }
func (r *Regexp) FindStringSubmatch(s string) []string   { return r.get().FindStringSubmatch(s) }
func (r *Regexp) FindStringSubmatchIndex(s string) []int { return r.get().FindStringSubmatchIndex(s) }
func (r *Regexp) FindSubmatch(b []byte) [][]byte         { return r.get().FindSubmatch(b) }
func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.get().ReplaceAllString(src, repl)
}
func (r *Regexp) ReplaceAllLiteralString(src, repl string) string {
	return r.get().ReplaceAllLiteralString(src, repl)
}
