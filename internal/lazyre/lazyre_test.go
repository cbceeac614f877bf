package lazyre

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestCompiledOnFirstUse(t *testing.T) {
	r := New(`^(\d+) (\w+)$`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if m := r.FindStringSubmatch("42 workers"); len(m) != 3 || m[2] != "workers" {
				t.Errorf("FindStringSubmatch = %q", m)
			}
		})
	}
	wg.Wait()
	if first := r.Regexp(); r.Regexp() != first {
		t.Error("compiled twice")
	}
	if got := r.ReplaceAllString("7 x", "$2"); got != "x" {
		t.Errorf("ReplaceAllString = %q", got)
	}
}

func TestCheckFindsABadExpression(t *testing.T) {
	if expr, err := Check(); err != nil {
		t.Fatalf("before: %q: %v", expr, err)
	}
	New(`(unclosed`)
	expr, err := Check()
	if expr != `(unclosed` || err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Fatalf("Check = %q, %v", expr, err)
	}
}

func TestOf(t *testing.T) {
	re := regexp.MustCompile(`a+`)
	if r := Of(re); r.Regexp() != re || r.String() != "a+" || !r.MatchString("baa") {
		t.Fatal("Of does not wrap the expression as it is")
	}
}
