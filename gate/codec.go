package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrVersion is a state file written by another version of odoo-notify.
var ErrVersion = errors.New("unknown state version")

// Decode reads a State. A file that does not parse, or of a version this
// program does not know, is an error: the caller moves it aside.
func Decode(b []byte) (*State, error) {
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("gate: decode state: %w", err)
	}
	if probe.Version == nil || *probe.Version != Version {
		v := "none"
		if probe.Version != nil {
			v = fmt.Sprint(*probe.Version)
		}
		return nil, fmt.Errorf("gate: decode state: version %s, want %d: %w", v, Version, ErrVersion)
	}
	s := New()
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(s); err != nil {
		return nil, fmt.Errorf("gate: decode state: %w", err)
	}
	for name, u := range s.Units {
		if u == nil {
			delete(s.Units, name)
		}
	}
	for name, b := range s.Buckets {
		if b == nil {
			delete(s.Buckets, name)
		}
	}
	return s, nil
}

// Encode writes s as JSON.
func (s *State) Encode() ([]byte, error) {
	s.Version = Version
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("gate: encode state: %w", err)
	}
	return append(b, '\n'), nil
}
