package outbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/state"
)

// testdata/state-v1 is a state folder written by odoo-notify before the
// state folder became a package of its own: an upgraded server must find in
// it the same gate, incidents and waiting reports, and write them back in
// the same format.
func TestReadsAFolderWrittenBeforeTheStateStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if out, err := exec.Command("cp", "-a", "testdata/state-v1", dir).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	st, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	g := gate.Load(st.Folder())
	u := g.Units["odoo.service"]
	if u == nil || len(u.Runs) != 2 || u.Held == nil || u.Held.Count != 1 || g.Units["odoo-worker.service"] == nil {
		t.Fatalf("gate: %+v", g.Units)
	}
	inc := st.Incidents()
	in := inc.Get("odoo.service")
	if in == nil || in.Failures != 3 || in.OpeningEntry != "a7e0ff6f81be0f0dd263cfb5" || !in.Announced {
		t.Fatalf("incident of odoo.service: %+v", in)
	}
	if sil := inc.Silences["odoo-worker.service"]; sil == nil || sil.Reason != "maintenance" || !sil.Until.Equal(time.Date(2026, 12, 2, 11, 1, 0, 0, time.UTC)) {
		t.Fatalf("silence: %+v", inc.Silences)
	}
	pending := st.Pending()
	if len(pending) != 2 || pending[0].ID != "a7e0ff6f81be0f0dd263cfb5" || pending[0].Report.Unit != "odoo.service" || pending[1].Report.Unit != "odoo-worker.service" {
		t.Fatalf("pending: %v", pending)
	}
	for _, e := range pending {
		if a, b := e.delivery("a"), e.delivery("b"); a == nil || a.Delivered.IsZero() || b == nil || !b.Delivered.IsZero() {
			t.Fatalf("%s: deliveries %+v", e.ID, e.Channels)
		}
	}
	if d := pending[0].delivery("b"); d.Attempts != 6 || d.LastError != "HTTP 500 Internal Server Error" {
		t.Fatalf("delivery to b: %+v", d)
	}

	// Written back, the gate's and the incidents' files are what the old
	// code wrote, byte for byte.
	err = st.Folder().Update(context.Background(), func(tx *state.Tx) error {
		if err := gate.Save(tx, g); err != nil {
			return err
		}
		return incident.Save(tx, inc)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gate.json", "incidents.json"} {
		old, _ := os.ReadFile(filepath.Join("testdata/state-v1", name))
		now, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(old, now) {
			t.Errorf("%s written back differs:\nold %s\nnew %s", name, old, now)
		}
	}

	// The waiting reports go out to the channel that missed them, and
	// leave the outbox.
	e := newEnv(t, "a", "b")
	e.dir = dir
	e.now = time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC)
	out := e.sender(t).Flush(ctxT(t), nil)
	if out.Redelivered != 2 || e.counts() != "a=0 b=2" {
		t.Fatalf("flush: redelivered %d, got %s", out.Redelivered, e.counts())
	}
	if p := st.Pending(); len(p) != 0 {
		t.Fatalf("still pending: %v", p)
	}
}
