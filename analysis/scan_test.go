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
		"tok", "toKen", "ses", "to\u212aen=x", "\u017fecret=1", "passwd=é", "ééé key", "S\u0130D=1", "\xffkey\xfe", "é\xc3PWD", "Ｐassword", "ǅsid",
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
					if !strings.ContainsAny(s, "\u212a\u0130") {
						t.Fatalf("find(%q) gave up on a text without the Kelvin sign or İ", s)
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

// TestExcParts: the hand-written reader of an exception line matches what
// excRe matches, with the same type and message.
func TestExcParts(t *testing.T) {
	texts := []string{"", "K", "KeyError", "KeyError:", "KeyError: ", "KeyError: 'x'", "KeyError:x", "KeyError :x", "1Error: x",
		"_x.y.z: m", "a.b: c\nd", "a.b: c\rd", "Err\u00e9: x", "Error: \xff", "odoo.service: Main process exited", "x::", "x: : y", ".x: y"}
	public, _ := filepath.Glob("testdata/corpus/public/*.log")
	for _, p := range public {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			texts = append(texts, l, strings.TrimSpace(l))
			if _, after, ok := strings.Cut(l, ": "); ok {
				texts = append(texts, after)
			}
		}
	}
	for _, s := range texts {
		typ, msg, ok := excParts(s)
		m := excRe.FindStringSubmatch(s)
		if ok != (m != nil) || ok && (typ != m[1] || msg != m[2]) {
			t.Fatalf("excParts(%q) = %q, %q, %v; excRe finds %q", s, typ, msg, ok, m)
		}
	}
}

// TestHintsHoldEveryMatch: a pattern's (or a redaction rule's) hint words
// are a prefilter, so every text its regexp matches must hold one of them;
// otherwise the prefilter would hide a cause or leave a secret.
func TestHintsHoldEveryMatch(t *testing.T) {
	var texts []string
	files, _ := filepath.Glob("testdata/corpus/*.log")
	public, _ := filepath.Glob("testdata/corpus/public/*.log")
	for _, p := range append(files, public...) {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			texts = append(texts, strings.TrimSpace(l))
		}
	}
	texts = append(texts, "PermissionError: [Errno 13] Permission denied: '/etc/odoo/odoo.conf'", "db_password = x", "Authorization: Basic x")
	matched := 0
	for _, s := range texts {
		found, _ := lineWords.find(s)
		for i, p := range patterns {
			if p.re.MatchString(s) {
				matched++
				if found&patternMasks[i] == 0 {
					t.Errorf("pattern %s/%s matches %q, which holds none of its hint %q", p.cause, p.kind, s, p.hint)
				}
			}
		}
		rf, ok := redactWords.find(s)
		for i, r := range builtin {
			if ok && r.re.MatchString(s) && rf&builtinMasks[i] == 0 {
				t.Errorf("redaction rule %d matches %q, which holds none of its hint %q", i, s, r.hint)
			}
		}
	}
	if matched < 50 {
		t.Fatalf("only %d matches in the corpus: the test proves little", matched)
	}
}
