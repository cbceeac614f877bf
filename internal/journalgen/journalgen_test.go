package journalgen

import (
	"bytes"
	"strings"
	"testing"
)

// The generated journal is the same every time, holds the entries asked
// for, and the failed run it reports is in it, halfway.
func TestWrite(t *testing.T) {
	var a, b bytes.Buffer
	fa, err := Write(&a, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := Write(&b, 20_000)
	if !bytes.Equal(a.Bytes(), b.Bytes()) || fa != fb {
		t.Fatal("two journals of the same size differ")
	}
	entries := strings.Split(strings.TrimSuffix(a.String(), "\n\n"), "\n\n")
	if len(entries) < 19_900 || len(entries) > 20_000 {
		t.Errorf("%d entries, want about 20000", len(entries))
	}
	exit := -1
	for i, e := range entries {
		if strings.Contains(e, "INVOCATION_ID="+fa.InvocationID) && strings.Contains(e, "MESSAGE=odoo.service: Main process exited, code=exited, status=1/FAILURE") {
			exit = i
		}
	}
	if exit < len(entries)/3 || exit > 2*len(entries)/3 {
		t.Errorf("the failed run %s exits at entry %d of %d, want halfway", fa.InvocationID, exit, len(entries))
	}
	if !fa.Started.Before(fa.Exited) {
		t.Errorf("failed run from %s to %s", fa.Started, fa.Exited)
	}
}
