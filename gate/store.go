package gate

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/odoo-notify/odoo-notify/state"
)

// FileName is the gate's record in the state folder.
const FileName = "gate.json"

// Load reads the gate's state from the state folder; a missing file is an
// empty state, a corrupt one is moved aside and starts afresh. It takes no
// lock: a read-modify-write calls it inside f.Update.
func Load(f *state.Folder) *State {
	b, err := f.ReadFile(FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return New()
	}
	if err != nil {
		f.Log().Warn("state: cannot read the dedup state: deciding without it", "path", filepath.Join(f.Path(), FileName), "error", err)
		return New()
	}
	st, err := Decode(b)
	if err != nil {
		f.MoveAside(FileName, err)
		return New()
	}
	return st
}

// Save replaces the gate's state in the state folder, under its lock.
func Save(tx *state.Tx, st *State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := tx.WriteFile(FileName, b); err != nil {
		return fmt.Errorf("state: save dedup state: %w", err)
	}
	return nil
}
