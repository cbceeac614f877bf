package analysis

import "strings"

// words finds which of a fixed set of strings a text holds, in one pass
// over the text instead of one strings.Contains per string. It is the
// prefilter that keeps most lines away from every regexp: a line of an
// Odoo log is read once, whatever the number of patterns.
//
// Each word is found by a run of stride byte pairs in it (its anchor, the
// run least likely in ordinary log text). The pass looks at every
// stride-th pair of the text only: any occurrence of a word puts one pair
// of its anchor there. A pair that is some anchor's is then compared with
// the words it may start.
type words struct {
	list []string
	// fold says the words are lowercase and are found in any ASCII case.
	fold   bool
	stride int
	// pairs has a bit set for every anchor pair; slot numbers each pair's
	// candidates in byPair (a table, not a map: "No" of "No such file" is
	// in every "Nov" of a log's dates).
	pairs  [1 << 16 / 64]uint64
	slot   [1 << 16]uint8
	byPair [][]candidate
}

// candidate is a word that a pair may be part of, at off in the word.
type candidate struct{ word, off int }

// maxWords is how many words one set holds: found is a uint64.
const maxWords = 64

// maxStride bounds the pairs in an anchor: more skip more of the text and
// put commoner pairs in the anchors.
const maxStride = 5

// newWords builds the set. Every word is at least two bytes long; with
// fold, it is lowercase ASCII.
func newWords(list []string, fold bool) *words {
	if len(list) > maxWords {
		panic("analysis: more than 64 words in one set")
	}
	w := &words{list: list, fold: fold, stride: maxStride, byPair: [][]candidate{nil}}
	for _, s := range list {
		if len(s) < 2 {
			panic("analysis: a word shorter than two bytes: " + s)
		}
		if fold && s != strings.ToLower(s) {
			panic("analysis: a folded word that is not lowercase: " + s)
		}
		w.stride = min(w.stride, len(s)-1)
	}
	for i, s := range list {
		// The anchor: the stride pairs from best on, the rarest run.
		best, bestScore := 0, -1
		for k := 0; k+w.stride < len(s); k++ {
			score := 0
			for j := k; j < k+w.stride; j++ {
				score += commonness(s[j], s[j+1])
			}
			if bestScore < 0 || score < bestScore {
				best, bestScore = k, score
			}
		}
		for j := best; j < best+w.stride; j++ {
			p := w.pair(s[j], s[j+1])
			w.pairs[p>>6] |= 1 << (p & 63)
			if w.slot[p] == 0 {
				if len(w.byPair) == 256 {
					panic("analysis: too many anchor pairs in one set")
				}
				w.slot[p] = uint8(len(w.byPair))
				w.byPair = append(w.byPair, nil)
			}
			w.byPair[w.slot[p]] = append(w.byPair[w.slot[p]], candidate{i, j})
		}
	}
	return w
}

// commonness guesses how often the pair a, b occurs in log text: lowercase
// letters, spaces and path punctuation are everywhere, capitals, digits and
// brackets less so.
func commonness(a, b byte) int {
	class := func(c byte) int {
		switch {
		case strings.IndexByte("etaoinsrhl ", c) >= 0:
			return 3
		case c >= 'a' && c <= 'z', c == '.', c == '/', c == ':', c == ',', c == '-', c == '_':
			return 2
		}
		return 1
	}
	return class(a) + class(b)
}

// find returns the words s holds, bit i for list[i]. ok is false when a
// folded set meets one of the two characters that Unicode lowercases to
// ASCII (the Kelvin sign to k, İ to i): strings.ToLower's rules are then
// the caller's to apply. Any other byte outside ASCII lowercases to a
// byte outside ASCII, which no word holds.
func (w *words) find(s string) (found uint64, ok bool) {
	if w.fold && !isASCII(s) && (strings.Contains(s, "\u212a") || strings.Contains(s, "\u0130")) {
		return 0, false
	}
	for i := 1; i < len(s); i += w.stride {
		p := w.pair(s[i-1], s[i])
		if w.pairs[p>>6]&(1<<(p&63)) == 0 {
			continue
		}
		for _, c := range w.byPair[w.slot[p]] {
			start := i - 1 - c.off
			if start >= 0 && found&(1<<c.word) == 0 && w.at(s[start:], w.list[c.word]) {
				found |= 1 << c.word
			}
		}
	}
	return found, true
}

// pair is the key of two bytes. A folded set sets bit 5 of both, which
// lowercases ASCII letters without a branch and merges a few other bytes
// ('[' with '{'): at compares the word itself.
func (w *words) pair(a, b byte) uint16 {
	if w.fold {
		a, b = a|0x20, b|0x20
	}
	return uint16(a)<<8 | uint16(b)
}

// isASCII says s has no byte outside ASCII, looking at 8 bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		v := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		if v&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// at says s starts with word.
func (w *words) at(s, word string) bool {
	if len(s) < len(word) {
		return false
	}
	if !w.fold {
		return s[:len(word)] == word
	}
	for i := 0; i < len(word); i++ {
		if lowerASCII(s[i]) != word[i] {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// mask returns the bits of the "|"-separated alts, adding each to list.
func mask(list *[]string, alts string) uint64 {
	var m uint64
	for _, a := range strings.Split(alts, "|") {
		k := -1
		for i, s := range *list {
			if s == a {
				k = i
			}
		}
		if k < 0 {
			k = len(*list)
			*list = append(*list, a)
		}
		m |= 1 << k
	}
	return m
}
