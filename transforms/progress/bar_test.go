package progress

import (
	"strings"
	"testing"
	"time"
)

func TestStatus(t *testing.T) {
	defer func() { PlannedBytes.Store(0); PlannedText.Store(false); PlannedSplits.Store(0) }()
	base := Snapshot{Documents: 5, Bytes: 1000}
	cur := Snapshot{Documents: 15, Bytes: 1000 + 2500, Scored: 8, Tokens: 2000, Patches: 400, Shards: 3}

	PlannedBytes.Store(10000)
	PlannedText.Store(true)
	got := Status(base, cur, 10*time.Second, 20)
	// 25% of the input in 10 s: 30 s to go, 250 B/s, 200 tokens/s; only the
	// run's own counts (since base).
	for _, want := range []string{"[█████░░░░░░░░░░░░░░░] ", " 25% of 9.8 KiB", "ETA 30s", "250 B/s, 200 tokens/s", "read 10 docs (2.4 KiB), scored 8, 400 patches, 0 rejected, 3 files"} {
		if !strings.Contains(got, want) {
			t.Errorf("Status = %q, lacks %q", got, want)
		}
	}
	// Past the planned size (estimates run over): capped below 100%.
	if got := Status(Snapshot{}, Snapshot{Bytes: 20000}, time.Second, 0); !strings.Contains(got, " 99% of") || strings.Contains(got, "[") {
		t.Errorf("over plan: %q", got)
	}
	// Compressed inputs: size, no ETA.
	PlannedText.Store(false)
	PlannedSplits.Store(4)
	if got := Status(base, cur, time.Second, 20); strings.Contains(got, ", ETA") || !strings.Contains(got, "input 9.8 KiB (4 splits, compressed: no ETA)") {
		t.Errorf("compressed: %q", got)
	}
	PlannedBytes.Store(0)
	if got := Status(base, cur, time.Second, 20); strings.Contains(got, "input") || !strings.HasPrefix(got, "2.4 KiB/s") || strings.Contains(got, "busy") {
		t.Errorf("unplanned: %q", got)
	}
	// Two devices busy 5 s and 10 s of the run's 10 s: 75% of their time.
	base.ModelBusy, cur.ModelBusy, cur.ModelDevices = 2*time.Second, 17*time.Second, 2
	base.ModelTokens, base.ModelSlots, cur.ModelTokens, cur.ModelSlots = 10, 20, 70, 100
	if got := Status(base, cur, 10*time.Second, 0); !strings.HasSuffix(got, " · model busy 75%, 75% of slots real") {
		t.Errorf("model busy: %q", got)
	}
}
