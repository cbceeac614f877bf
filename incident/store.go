package incident

import "github.com/odoo-notify/odoo-notify/state"

// FileName is the incidents' record in the state folder.
const FileName = "incidents.json"

// Load reads the incidents' state from the state folder; a missing file is an
// empty state, a corrupt one is moved aside and starts afresh. It takes no
// lock: a read-modify-write calls it inside f.Update.
func Load(f *state.Folder) *State {
	return state.Load(f, FileName, "state: cannot read the incidents: deciding without them", Decode, New)
}

// Save replaces the incidents' state in the state folder, under its lock.
func Save(tx *state.Tx, st *State) error {
	return state.Save(tx, FileName, "save incidents", st.Encode)
}
