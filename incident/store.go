package incident

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/odoo-notify/odoo-notify/state"
)

// FileName is the incidents' record in the state folder.
const FileName = "incidents.json"

// Load reads the incidents' state from the state folder; a missing file is an
// empty state, a corrupt one is moved aside and starts afresh. It takes no
// lock: a read-modify-write calls it inside f.Update.
func Load(f *state.Folder) *State {
	b, err := f.ReadFile(FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return New()
	}
	if err != nil {
		f.Log().Warn("state: cannot read the incidents: deciding without them", "path", filepath.Join(f.Path(), FileName), "error", err)
		return New()
	}
	st, err := Decode(b)
	if err != nil {
		f.MoveAside(FileName, err)
		return New()
	}
	return st
}

// Save replaces the incidents' state in the state folder, under its lock.
func Save(tx *state.Tx, st *State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := tx.WriteFile(FileName, b); err != nil {
		return fmt.Errorf("state: save incidents: %w", err)
	}
	return nil
}
