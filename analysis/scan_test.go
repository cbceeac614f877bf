package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWordsFindsWhatContainsFinds: the one-pass prefilter finds exactly the
// words strings.Contains finds, on every line of the corpus and on the
// texts that could trip it (a word at either end, overlapping words, any
// case, bytes outside ASCII), so the analysis and the redaction decide as
// they did with one strings.Contains per word.
func TestWordsFindsWhatContainsFinds(t *testing.T) {
	texts := []string{
		"", "a", "[E", "Address already in use", "xAddress already in us", "OSError: [Errno 98] Address already in use",
		"[Errno 98][Errno 48]", "running onrunning on", "pg_hb", "pg_hba.conf", "does not exis", "emory limitMemoryError",
		"PASSWORD=x", "Db_PassWd: y", "SESSION_ID=1", "Authorization: Basic x", "BEARER abc", "HTTPS://u:p@h", "hooks.SLACK.com/x",
		"tok", "toKen", "ses", "to\u212aen=x", "\u017fecret=1", "passwd=é", "ééé key",
	}
	files, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil {
		t.Fatal(err)
	}
	public, _ := filepath.Glob("testdata/corpus/public/*.log")
	for _, p := range append(files, public...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, strings.Split(string(b), "\n")...)
	}
	if len(texts) < 1000 {
		t.Fatalf("only %d texts: the corpus was not found", len(texts))
	}
	for _, s := range append(texts, "12345678é", "é12345678", "1234567é") {
		if isASCII(s) != isASCIIRef(s) {
			t.Fatalf("isASCII(%q) = %v", s, isASCII(s))
		}
	}
	for _, set := range []*words{lineWords, redactWords} {
		for _, s := range texts {
			got, ok := set.find(s)
			in := s
			if set.fold {
				if !ok {
					if isASCIIRef(s) {
						t.Fatalf("find(%q) gave up on ASCII text", s)
					}
					continue
				}
				in = strings.ToLower(s)
			}
			var want uint64
			for i, w := range set.list {
				if strings.Contains(in, w) {
					want |= 1 << i
				}
			}
			if got != want {
				t.Fatalf("find(%q) = %b, strings.Contains finds %b (words %q)", s, got, want, set.list)
			}
		}
	}
}

func isASCIIRef(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestRedactOutsideASCII: where Unicode's lowercase differs from ASCII's,
// the rules are picked as before, on the lowercased text.
func TestRedactOutsideASCII(t *testing.T) {
	x, _ := NewRedactor(nil)
	for _, tt := range []struct{ in, want string }{
		{"to\u212aen=abc résumé", "to\u212aen=" + Redacted + " résumé"},
		{"mot de passe: é password=abc", "mot de passe: é password=" + Redacted},
	} {
		if got := x.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMayBeCompose: the '|' search finds " |" where strings.Contains does.
func TestMayBeCompose(t *testing.T) {
	texts := []string{"", "|", " |", "| ", "a||", "a | b", "odoo_1  | 2024-05-01", strings.Repeat("x", 79) + " |", strings.Repeat("x", 78) + " |"}
	public, _ := filepath.Glob("testdata/corpus/public/*.log")
	for _, p := range public {
		b, _ := os.ReadFile(p)
		texts = append(texts, strings.Split(string(b), "\n")...)
	}
	for _, s := range texts {
		head := s
		if len(head) > 80 {
			head = head[:80]
		}
		if got, want := mayBeCompose(s), strings.Contains(head, " |"); got != want {
			t.Fatalf("mayBeCompose(%q) = %v, want %v", s, got, want)
		}
	}
}
